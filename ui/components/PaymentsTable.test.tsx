import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { translator } from "@/lib/i18n";
import { payment } from "@/test/fakes";
import { PaymentsTable } from "./PaymentsTable";

const en = translator("en");

describe("PaymentsTable", () => {
  it("says so while loading and when there is nothing", () => {
    const { rerender } = render(<PaymentsTable payments={[]} loading locale="en" t={en} />);
    expect(screen.getByText("Loading payments…")).toBeTruthy();
    rerender(<PaymentsTable payments={[]} loading={false} locale="en" t={en} />);
    expect(screen.getByText(/No payments yet/)).toBeTruthy();
  });

  it("shows each payment with its state in words and the provider's details", () => {
    const payments = [
      payment({ paymentId: "00000000-0000-4000-8000-000000000001", state: "pending" }),
      payment({
        paymentId: "00000000-0000-4000-8000-000000000002",
        state: "completed",
        amount: "1234.50",
        processed: "2026-11-25T15:04:09Z",
        extPaymentDetails: "accepted, reference 42",
      }),
      payment({ paymentId: "00000000-0000-4000-8000-000000000003", state: "rejected", processed: "2026-11-25T15:04:09Z", extPaymentDetails: "insufficient funds" }),
    ];
    render(<PaymentsTable payments={payments} loading={false} locale="en" t={en} />);
    const table = screen.getByRole("table", { name: "Your payments" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => r.getAttribute("data-state"))).toEqual(["pending", "completed", "rejected"]);
    expect(within(rows[0]!).getByText("Pending")).toBeTruthy();
    expect(within(rows[0]!).getAllByText("—")).toHaveLength(2); // not processed, no details yet
    expect(within(rows[1]!).getByText("Completed")).toBeTruthy();
    expect(within(rows[1]!).getByText("1,234.50")).toBeTruthy();
    expect(within(rows[1]!).getByText("accepted, reference 42")).toBeTruthy();
    expect(within(rows[2]!).getByText("Rejected")).toBeTruthy();
    // The row header is the payment id, so a screen reader names each row by it.
    expect(within(rows[2]!).getByRole("rowheader").textContent).toBe("00000000-0000-4000-8000-000000000003");
  });

  it("speaks Russian", () => {
    render(
      <PaymentsTable
        payments={[payment({ paymentId: "00000000-0000-4000-8000-000000000002", state: "completed", amount: "1234.50" })]}
        loading={false}
        locale="ru"
        t={translator("ru")}
      />,
    );
    expect(screen.getByRole("columnheader", { name: "Статус" })).toBeTruthy();
    expect(screen.getByText("Проведён")).toBeTruthy();
    expect(screen.getByText("1\u00a0234,50", { normalizer: (s) => s })).toBeTruthy();
  });
});
