import { describe, expect, it } from "vitest";
import { apiFieldMessage, formatAmount, formatTime, pickLocale, translator } from "./i18n";

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
    expect(translator("en")("charactersLeft", { n: 12 })).toBe("12 characters left");
    expect(translator("ru")("charactersLeft", { n: 12 })).toBe("Осталось символов: 12");
    expect(translator("ru")("state_completed")).toBe("Проведён");
  });
});

describe("apiFieldMessage", () => {
  it("words the API's phrases in Russian and keeps unknown ones", () => {
    expect(apiFieldMessage("ru", "must not exceed 1000000.00")).toBe("Не должно превышать 1000000.00.");
    expect(apiFieldMessage("ru", "something new")).toBe("Something new.");
    expect(apiFieldMessage("en", "must not exceed 1000000.00")).toBe("Must not exceed 1000000.00.");
  });
});

describe("formatting", () => {
  it("groups amounts without turning them into floats", () => {
    expect(formatAmount("en", "1234567.05")).toBe("1,234,567.05");
    expect(formatAmount("ru", "1234567.05")).toBe("1\u00a0234\u00a0567,05");
    expect(formatAmount("en", "99999999999.99")).toBe("99,999,999,999.99");
  });

  it("shows a dash for a time not yet known", () => {
    expect(formatTime("en", null)).toBe("—");
    expect(formatTime("en", "2026-11-25T15:04:05Z")).toMatch(/2026/);
  });
});
