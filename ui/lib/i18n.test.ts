import { describe, expect, it } from "vitest";
import { apiFieldMessage, DICTIONARIES, formatAmount, formatTime, LOCALES, pickLocale, translator } from "./i18n";

describe("pickLocale", () => {
  it("prefers the saved choice", () => {
    expect(pickLocale("ru", "en-US,en;q=0.9")).toBe("ru");
  });

  it("falls back to the browser's languages by weight, then English", () => {
    expect(pickLocale(undefined, "de-DE,ru;q=0.8,en;q=0.5")).toBe("ru");
    expect(pickLocale(undefined, "en;q=0.2,ru-RU;q=0.9")).toBe("ru");
    expect(pickLocale("fr", "fr-FR,de")).toBe("en");
    expect(pickLocale(undefined, null)).toBe("en");
  });
});

describe("translator", () => {
  it("fills in parameters and has every message in Russian", () => {
    expect(translator("en")("announceCreated", { id: "1234abcd" })).toBe("Payment 1234abcd created; waiting for the provider.");
    expect(translator("ru")("state_completed")).toBe("Проведён");
  });

  it("writes numbers in the locale's style", () => {
    expect(translator("en")("errPayUnavailable", { s: 1200 })).toContain("try again in 1,200 s.");
    expect(translator("ru")("errPayUnavailable", { s: 1200 })).toContain("попробуйте через 1\u00a0200 с.");
  });

  it.each([
    [1, "1 character left", "Остался 1 символ"],
    [2, "2 characters left", "Осталось 2 символа"],
    [5, "5 characters left", "Осталось 5 символов"],
    [11, "11 characters left", "Осталось 11 символов"],
    [21, "21 characters left", "Остался 21 символ"],
    [22, "22 characters left", "Осталось 22 символа"],
    [0, "0 characters left", "Осталось 0 символов"],
  ])("chooses the plural form for %d", (n, en, ru) => {
    expect(translator("en")("charactersLeft", { n })).toBe(en);
    expect(translator("ru")("charactersLeft", { n })).toBe(ru);
  });

  it("has a form for every plural category of each language", () => {
    for (const locale of LOCALES) {
      const categories = new Intl.PluralRules(locale).resolvedOptions().pluralCategories;
      const plurals = Object.entries(DICTIONARIES[locale]).filter(([, m]) => typeof m !== "string");
      expect(plurals.map(([key]) => key)).toEqual(["charactersLeft", "charactersOver", "eventsCount"]);
      for (const [key, forms] of plurals) {
        expect(Object.keys(forms).sort(), `${locale} ${key}`).toEqual([...categories].sort());
      }
    }
  });
});

describe("apiFieldMessage", () => {
  it("words the API's phrases as the form does, with a subject and grouped amounts", () => {
    expect(apiFieldMessage("en", "amount", "must not exceed 1000000.00")).toBe("The amount must not exceed 1,000,000.00.");
    expect(apiFieldMessage("ru", "amount", "must not exceed 1000000.00")).toBe("Сумма не должна превышать 1\u00a0000\u00a0000,00.");
    expect(apiFieldMessage("en", "amount", "is too large")).toBe("The amount is too large.");
    expect(apiFieldMessage("ru", "amount", "is too large")).toBe("Сумма слишком большая.");
    expect(apiFieldMessage("en", "amount", "must be greater than zero")).toBe("The amount must be greater than zero.");
    expect(apiFieldMessage("en", "amount", "must be a plain decimal number such as 125.50")).toBe("Enter a number such as 125.50.");
    expect(apiFieldMessage("en", "accountNumber", "is required")).toBe("Enter the account number.");
    expect(apiFieldMessage("ru", "description", "must be at most 500 characters")).toBe("Назначение — не больше 500 символов.");
  });

  it("puts the field's name before a phrase it does not know", () => {
    expect(apiFieldMessage("en", "accountNumber", "must be valid UTF-8")).toBe("Account number must be valid UTF-8.");
    expect(apiFieldMessage("ru", "amount", "something new.")).toBe("Сумма: something new.");
  });
});

describe("formatting", () => {
  it("groups amounts without turning them into floats", () => {
    expect(formatAmount("en", "1234567.05")).toBe("1,234,567.05");
    expect(formatAmount("ru", "1234567.05")).toBe("1\u00a0234\u00a0567,05");
    expect(formatAmount("en", "99999999999.99")).toBe("99,999,999,999.99");
    expect(formatAmount("en", "999999999999999999.99")).toBe("999,999,999,999,999,999.99");
    expect(formatAmount("ru", "5")).toBe("5,00");
    expect(formatAmount("en", "not a number")).toBe("not a number");
  });

  it("shows a dash for a time not yet known", () => {
    expect(formatTime("en", null)).toBe("—");
    expect(formatTime("en", "2026-11-25T15:04:05Z")).toMatch(/2026/);
  });
});
