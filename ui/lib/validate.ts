// Client-side checks of the payment form. They catch what a person mistypes
// before a round trip; the API stays the authority (the maximum amount, for one,
// is its setting and is checked only there).

import type { NewPayment } from "./types";

export const MAX_ACCOUNT_NUMBER_LENGTH = 64;
export const MAX_DESCRIPTION_LENGTH = 500;

/** Message keys of the form errors; the dictionary in i18n.ts words them. */
export type FieldErrorKey =
  | "accountRequired"
  | "accountTooLong"
  | "amountRequired"
  | "amountFormat"
  | "amountDecimals"
  | "amountPositive"
  | "descriptionTooLong"
  | "controlCharacters";

export type FormField = keyof NewPayment;
export type FieldErrors = Partial<Record<FormField, FieldErrorKey>>;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * normalizeAmount turns what a person types into the API's decimal text:
 * surrounding and grouping spaces go, and a decimal comma (as Russian users
 * write it) becomes a point. It returns null when the text is no plain
 * decimal; decimals are kept as typed, so "1.234" stays wrong.
 */
export function normalizeAmount(input: string): string | null {
  const s = input.replace(/[\s\u00a0\u202f]/g, "").replace(",", ".");
  return /^\d+(\.\d+)?$/.test(s) ? s : null;
}

/** A minus sign (hyphen, or the typographic one) before a number the person typed. */
const NEGATIVE = /^\s*[-\u2212]/;

function amountError(input: string): FieldErrorKey | undefined {
  if (input.trim() === "") return "amountRequired";
  // "-5" is a number, only not one that can be paid: say that, not "enter a number".
  if (NEGATIVE.test(input) && normalizeAmount(input.replace(NEGATIVE, "")) !== null) return "amountPositive";
  const s = normalizeAmount(input);
  if (s === null) return "amountFormat";
  const [whole, frac = ""] = s.split(".");
  if (frac.length > 2) return "amountDecimals";
  if (/^0*$/.test(whole!) && /^0*$/.test(frac)) return "amountPositive";
  return undefined;
}

function textLength(s: string): number {
  // Count code points, as the API does, not UTF-16 units.
  return Array.from(s).length;
}

export function validatePayment(p: NewPayment): FieldErrors {
  const errors: FieldErrors = {};
  if (p.accountNumber.trim() === "") errors.accountNumber = "accountRequired";
  else if (textLength(p.accountNumber) > MAX_ACCOUNT_NUMBER_LENGTH) errors.accountNumber = "accountTooLong";
  else if (CONTROL.test(p.accountNumber)) errors.accountNumber = "controlCharacters";

  const amount = amountError(p.amount);
  if (amount) errors.amount = amount;

  if (textLength(p.description) > MAX_DESCRIPTION_LENGTH) errors.description = "descriptionTooLong";
  else if (CONTROL.test(p.description)) errors.description = "controlCharacters";
  return errors;
}

/** The request body for a valid form: trimmed text and the amount as decimal text. */
export function toRequest(p: NewPayment): NewPayment {
  return {
    accountNumber: p.accountNumber.trim(),
    amount: normalizeAmount(p.amount) ?? p.amount,
    description: p.description.trim(),
  };
}
