import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { translator } from "@/lib/i18n";
import { deferred } from "@/test/fakes";
import { PaymentForm, type SubmitOutcome } from "./PaymentForm";

function setup(onSubmit = vi.fn(async (): Promise<SubmitOutcome> => ({ ok: true })), locale: "en" | "ru" = "en") {
  const user = userEvent.setup();
  render(<PaymentForm locale={locale} t={translator(locale)} onSubmit={onSubmit} />);
  const account = screen.getByLabelText(locale === "en" ? "Account number" : "Номер счёта");
  const amount = screen.getByLabelText(locale === "en" ? "Amount" : "Сумма");
  const purpose = screen.getByLabelText(/Purpose|Назначение/);
  const pay = screen.getByRole("button", { name: locale === "en" ? "Pay" : "Оплатить" });
  return { user, onSubmit, account, amount, purpose, pay };
}

describe("PaymentForm", () => {
  it("shows what is wrong beside each field, focuses the first one and sends nothing", async () => {
    const { user, onSubmit, account, amount, pay } = setup();
    await user.type(amount, "1.234");
    await user.click(pay);
    expect(onSubmit).not.toHaveBeenCalled();
    expect(account).toHaveProperty("ariaInvalid", "true");
    expect(account.getAttribute("aria-describedby")).toBe("accountNumber-error");
    expect(document.getElementById("accountNumber-error")!.textContent).toBe("Enter the account number.");
    expect(document.getElementById("amount-error")!.textContent).toBe("Use at most 2 decimals.");
    await waitFor(() => expect(document.activeElement).toBe(account));
  });

  it("checks a field once the person leaves it, not while they first type", async () => {
    const { user, amount, account } = setup();
    await user.type(amount, "0");
    expect(document.getElementById("amount-error")!.hidden).toBe(true);
    await user.click(account);
    expect(document.getElementById("amount-error")!.textContent).toBe("The amount must be greater than zero.");
    await user.type(amount, ".5");
    expect(document.getElementById("amount-error")!.hidden).toBe(true);
  });

  it("sends the cleaned-up form with a spinner meanwhile, then clears the amount and purpose", async () => {
    const answer = deferred<SubmitOutcome>();
    const onSubmit = vi.fn(() => answer.promise);
    const { user, account, amount, purpose, pay } = setup(onSubmit);
    await user.type(account, " 40817810099910004312 ");
    await user.type(amount, "125,5");
    await user.type(purpose, "Rent");
    await user.click(pay);
    expect(onSubmit).toHaveBeenCalledWith(
      { accountNumber: "40817810099910004312", amount: "125.5", description: "Rent" },
      expect.stringMatching(/^[0-9a-f-]{36}$/),
    );
    expect(pay.getAttribute("aria-busy")).toBe("true");
    expect(pay.textContent).toBe("Paying…");
    await user.click(pay); // a second click while paying does nothing
    expect(onSubmit).toHaveBeenCalledTimes(1);

    answer.resolve({ ok: true });
    await screen.findByRole("button", { name: "Pay" });
    expect((amount as HTMLInputElement).value).toBe("");
    expect((purpose as HTMLInputElement).value).toBe("");
    expect((account as HTMLInputElement).value).toBe(" 40817810099910004312 ");
  });

  it("shows the API's objection beside its field, in the reader's language", async () => {
    const onSubmit = vi.fn(async (): Promise<SubmitOutcome> => ({ ok: false, fields: { amount: "must not exceed 1000000.00" } }));
    const { user, account, amount, pay } = setup(onSubmit, "ru");
    await user.type(account, "4081");
    await user.type(amount, "2000000");
    await user.click(pay);
    const error = document.getElementById("amount-error")!;
    expect(error.textContent).toBe("Сумма не должна превышать 1\u00a0000\u00a0000,00.");
    expect(amount.getAttribute("aria-describedby")).toBe("amount-hint amount-error");
    await waitFor(() => expect(document.activeElement).toBe(amount));
    // Editing the field withdraws the objection.
    await user.type(amount, "{Backspace}");
    expect(error.hidden).toBe(true);
  });

  it("retries an unanswered attempt with the same idempotency key, and a changed one with a new key", async () => {
    const onSubmit = vi.fn(async (): Promise<SubmitOutcome> => ({ ok: false }));
    const { user, account, amount, pay } = setup(onSubmit);
    await user.type(account, "4081");
    await user.type(amount, "10");
    await user.click(pay);
    await user.click(pay);
    await user.type(amount, "0");
    await user.click(pay);
    const keys = onSubmit.mock.calls.map((c) => (c as unknown as [unknown, string])[1]);
    expect(keys).toHaveLength(3);
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).not.toBe(keys[0]);
  });

  it.each([
    ["en", "-5", "The amount must be greater than zero."],
    ["ru", "-5", "Сумма должна быть больше нуля."],
    ["en", "-0,01", "The amount must be greater than zero."],
    ["en", "five", "Enter a number such as 125.50."],
  ] as const)("in %s says why the amount %j cannot be paid", async (locale, typed, message) => {
    const { user, account, amount } = setup(undefined, locale);
    await user.type(amount, typed);
    await user.click(account);
    expect(document.getElementById("amount-error")!.textContent).toBe(message);
  });

  it.each([
    ["en", 1, "499 characters left"],
    ["en", 499, "1 character left"],
    ["en", 502, "2 characters too many"],
    ["ru", 1, "Осталось 499 символов"],
    ["ru", 6, "Осталось 494 символа"],
    ["ru", 479, "Остался 21 символ"],
    ["ru", 501, "На 1 символ больше допустимого"],
  ] as const)("in %s counts the purpose's room left in the right plural (%d typed)", async (locale, typed, text) => {
    const { user, purpose } = setup(undefined, locale);
    await user.click(purpose);
    await user.paste("x".repeat(typed));
    expect(document.getElementById("description-count")!.textContent).toBe(text);
  });
});
