import { describe, expect, it } from "vitest";
import { normalizeAmount, toRequest, validatePayment } from "./validate";

const ok = { accountNumber: "40817810099910004312", amount: "125.50", description: "Rent" };

describe("validatePayment", () => {
  it("accepts a complete form", () => {
    expect(validatePayment(ok)).toEqual({});
  });

  it.each([
    ["", "amountRequired"],
    ["   ", "amountRequired"],
    ["abc", "amountFormat"],
    ["-5", "amountPositive"],
    ["-0.01", "amountPositive"],
    [" −125,50", "amountPositive"],
    ["-", "amountFormat"],
    ["--5", "amountFormat"],
    ["1e3", "amountFormat"],
    ["1.", "amountFormat"],
    ["1.234", "amountDecimals"],
    ["0", "amountPositive"],
    ["0.00", "amountPositive"],
  ])("rejects the amount %j as %s", (amount, key) => {
    expect(validatePayment({ ...ok, amount }).amount).toBe(key);
  });

  it.each(["1", "0.01", "125,50", "1 000 000.00", "2000000"])("accepts the amount %j (the maximum is the API's to check)", (amount) => {
    expect(validatePayment({ ...ok, amount }).amount).toBeUndefined();
  });

  it("requires an account number that is not blank", () => {
    expect(validatePayment({ ...ok, accountNumber: "  " }).accountNumber).toBe("accountRequired");
    expect(validatePayment({ ...ok, accountNumber: "x".repeat(65) }).accountNumber).toBe("accountTooLong");
    expect(validatePayment({ ...ok, accountNumber: "x".repeat(64) }).accountNumber).toBeUndefined();
  });

  it("lets the purpose be empty but not longer than 500 characters, counted as the API counts them", () => {
    expect(validatePayment({ ...ok, description: "" }).description).toBeUndefined();
    expect(validatePayment({ ...ok, description: "я".repeat(500) }).description).toBeUndefined();
    // 500 emoji are 1000 UTF-16 units but 500 characters.
    expect(validatePayment({ ...ok, description: "😀".repeat(500) }).description).toBeUndefined();
    expect(validatePayment({ ...ok, description: "x".repeat(501) }).description).toBe("descriptionTooLong");
  });

  it("refuses control characters, as the API does", () => {
    expect(validatePayment({ ...ok, description: "a\nb" }).description).toBe("controlCharacters");
    expect(validatePayment({ ...ok, accountNumber: "12\t34" }).accountNumber).toBe("controlCharacters");
  });
});

describe("normalizeAmount and toRequest", () => {
  it("turns a decimal comma and grouping spaces into the API's decimal text", () => {
    expect(normalizeAmount("1 234,5")).toBe("1234.5");
    expect(normalizeAmount("12x")).toBeNull();
    expect(toRequest({ accountNumber: " 4081 ", amount: " 125,50 ", description: " Rent " })).toEqual({
      accountNumber: "4081",
      amount: "125.50",
      description: "Rent",
    });
  });
});
