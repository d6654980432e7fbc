"use client";

import { useEffect, useRef, useState, type FormEvent } from "react";
import { apiFieldMessage, fieldErrorText, type Locale, type Translate } from "@/lib/i18n";
import type { NewPayment } from "@/lib/types";
import { newUUID } from "@/lib/uuid";
import {
  MAX_ACCOUNT_NUMBER_LENGTH,
  MAX_DESCRIPTION_LENGTH,
  toRequest,
  validatePayment,
  type FormField,
} from "@/lib/validate";
import { Spinner } from "./Spinner";
import styles from "./PaymentForm.module.css";

/** What became of a submission, as the form needs to know it. */
export type SubmitOutcome = { ok: true } | { ok: false; fields?: Record<string, string> };

interface Props {
  locale: Locale;
  t: Translate;
  /** Sends the payment; the key identifies the attempt (see below). */
  onSubmit(payment: NewPayment, idempotencyKey: string): Promise<SubmitOutcome>;
}

const FIELDS: FormField[] = ["accountNumber", "amount", "description"];
const EMPTY: NewPayment = { accountNumber: "", amount: "", description: "" };

/**
 * PaymentForm takes the account number, amount and purpose. It checks them as
 * the person types (after they leave a field, or try to pay), shows the API's
 * own objections beside the fields they concern, and moves focus to the first
 * field to fix.
 */
export function PaymentForm({ locale, t, onSubmit }: Props) {
  const [values, setValues] = useState<NewPayment>(EMPTY);
  const [touched, setTouched] = useState<ReadonlySet<FormField>>(new Set());
  const [attempted, setAttempted] = useState(false);
  const [apiErrors, setApiErrors] = useState<Partial<Record<FormField, string>>>({});
  const [submitting, setSubmitting] = useState(false);
  const [focusTarget, setFocusTarget] = useState<{ field: FormField } | null>(null);
  const inputs = useRef<Partial<Record<FormField, HTMLInputElement | null>>>({});
  // One key per attempt at paying: sending the same values again after an
  // outage or a lost answer reuses it, so the API makes the payment at most
  // once; a change of the values or a success starts a new attempt.
  const attemptKey = useRef<string | null>(null);

  useEffect(() => {
    if (focusTarget) inputs.current[focusTarget.field]?.focus();
  }, [focusTarget]);

  const clientErrors = validatePayment(values);
  const errorFor = (field: FormField): string | undefined => {
    const key = clientErrors[field];
    if (key && (attempted || touched.has(field))) return fieldErrorText(t, key);
    const api = apiErrors[field];
    return api === undefined ? undefined : apiFieldMessage(locale, field, api);
  };

  const change = (field: FormField, value: string) => {
    setValues((v) => ({ ...v, [field]: value }));
    setApiErrors(({ [field]: _dropped, ...rest }) => rest);
    attemptKey.current = null;
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (submitting) return;
    setAttempted(true);
    const firstBad = FIELDS.find((f) => clientErrors[f] !== undefined);
    if (firstBad) {
      setFocusTarget({ field: firstBad });
      return;
    }
    attemptKey.current ??= newUUID();
    setSubmitting(true);
    let outcome: SubmitOutcome;
    try {
      outcome = await onSubmit(toRequest(values), attemptKey.current);
    } finally {
      setSubmitting(false);
    }
    if (outcome.ok) {
      // Keep the account: paying the same one again is the common case.
      setValues((v) => ({ ...EMPTY, accountNumber: v.accountNumber }));
      setTouched(new Set());
      setAttempted(false);
      setApiErrors({});
      attemptKey.current = null;
      return;
    }
    const fields = Object.fromEntries(
      Object.entries(outcome.fields ?? {}).filter(([name]) => (FIELDS as string[]).includes(name)),
    ) as Partial<Record<FormField, string>>;
    setApiErrors(fields);
    const firstApiBad = FIELDS.find((f) => fields[f] !== undefined);
    if (firstApiBad) setFocusTarget({ field: firstApiBad });
  };

  const describedBy = (field: FormField, ...extra: string[]) =>
    [...extra, errorFor(field) ? `${field}-error` : ""].filter(Boolean).join(" ") || undefined;

  const fieldError = (field: FormField) => {
    const message = errorFor(field);
    return (
      <p id={`${field}-error`} className={styles.error} hidden={!message}>
        {message}
      </p>
    );
  };

  const left = MAX_DESCRIPTION_LENGTH - Array.from(values.description).length;

  return (
    <section className={styles.card} aria-labelledby="form-heading">
      <h2 id="form-heading">{t("formHeading")}</h2>
      <form className={styles.form} onSubmit={submit} noValidate>
        <div className={styles.field}>
          <label htmlFor="accountNumber">{t("accountNumber")}</label>
          <input
            id="accountNumber"
            name="accountNumber"
            ref={(el) => {
              inputs.current.accountNumber = el;
            }}
            value={values.accountNumber}
            onChange={(e) => change("accountNumber", e.target.value)}
            onBlur={() => setTouched((s) => new Set(s).add("accountNumber"))}
            autoComplete="off"
            spellCheck={false}
            required
            aria-required="true"
            maxLength={MAX_ACCOUNT_NUMBER_LENGTH}
            aria-invalid={errorFor("accountNumber") ? true : undefined}
            aria-describedby={describedBy("accountNumber")}
          />
          {fieldError("accountNumber")}
        </div>

        <div className={styles.field}>
          <label htmlFor="amount">{t("amount")}</label>
          <input
            id="amount"
            name="amount"
            ref={(el) => {
              inputs.current.amount = el;
            }}
            value={values.amount}
            onChange={(e) => change("amount", e.target.value)}
            onBlur={() => setTouched((s) => new Set(s).add("amount"))}
            inputMode="decimal"
            autoComplete="off"
            required
            aria-required="true"
            aria-invalid={errorFor("amount") ? true : undefined}
            aria-describedby={describedBy("amount", "amount-hint")}
          />
          <p id="amount-hint" className={styles.hint}>
            {t("amountHint")}
          </p>
          {fieldError("amount")}
        </div>

        <div className={`${styles.field} ${styles.wide}`}>
          <label htmlFor="description">
            {t("description")} <span className={styles.optional}>({t("optional")})</span>
          </label>
          <input
            id="description"
            name="description"
            ref={(el) => {
              inputs.current.description = el;
            }}
            value={values.description}
            onChange={(e) => change("description", e.target.value)}
            onBlur={() => setTouched((s) => new Set(s).add("description"))}
            autoComplete="off"
            aria-invalid={errorFor("description") ? true : undefined}
            aria-describedby={describedBy("description", "description-count")}
          />
          <p id="description-count" className={styles.hint}>
            {left >= 0 ? t("charactersLeft", { n: left }) : t("charactersOver", { n: -left })}
          </p>
          {fieldError("description")}
        </div>

        <div className={styles.actions}>
          <button type="submit" className={styles.pay} aria-disabled={submitting} aria-busy={submitting}>
            {submitting && <Spinner />}
            <span>{submitting ? t("paying") : t("pay")}</span>
          </button>
        </div>
      </form>
    </section>
  );
}
