import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
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
    expect(within(rows[2]!).getByRole("rowheader", { name: "00000000-0000-4000-8000-000000000003" })).toBeTruthy();
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

  it("copies the whole payment id from the keyboard and says so", async () => {
    const id = "0a1b2c3d-0000-4000-8000-00000000000f";
    const user = userEvent.setup(); // puts a clipboard in place of the browser's
    render(<PaymentsTable payments={[payment({ paymentId: id })]} loading={false} locale="en" t={en} />);
    await user.tab();
    const copy = screen.getByRole("button", { name: `Copy payment ID ${id}` });
    expect(document.activeElement).toBe(copy);
    await user.keyboard("{Enter}");
    expect(await navigator.clipboard.readText()).toBe(id);
    const note = within(screen.getByRole("rowheader")).getByRole("status");
    expect(note.textContent).toBe("Copied");
    expect(note.className).toBe("note"); // shown, not only announced
  });

  it("shows the whole id where the browser refuses the clipboard", async () => {
    const id = "0a1b2c3d-0000-4000-8000-00000000000f";
    const user = userEvent.setup();
    vi.spyOn(navigator.clipboard, "writeText").mockRejectedValue(new DOMException("denied", "NotAllowedError"));
    render(<PaymentsTable payments={[payment({ paymentId: id })]} loading={false} locale="ru" t={translator("ru")} />);
    const code = screen.getByText(id);
    expect(code.className).toBe("short");
    await user.click(screen.getByRole("button", { name: `Скопировать идентификатор платежа ${id}` }));
    expect(await screen.findByText("Копирование здесь недоступно: идентификатор показан целиком.")).toBeTruthy();
    expect(code.className).toBe("whole");
  });

  it("shows why the list is missing and a way to ask again", async () => {
    const onRetry = vi.fn();
    const user = userEvent.setup();
    const { rerender } = render(
      <PaymentsTable payments={[]} loading={false} loadError={{ text: "Could not load.", retrying: true }} onRetry={onRetry} locale="en" t={en} />,
    );
    expect(screen.getByRole("alert").textContent).toBe("Could not load.");
    expect(screen.getByText("The page tries again by itself, waiting longer each time.")).toBeTruthy();
    expect(screen.queryByText("Loading payments…")).toBeNull();
    expect(screen.queryByText(/No payments yet/)).toBeNull();
    await user.click(screen.getByRole("button", { name: "Try again now" }));
    expect(onRetry).toHaveBeenCalledTimes(1);
    rerender(<PaymentsTable payments={[]} loading={false} loadError={{ text: "Refused.", retrying: false }} onRetry={onRetry} locale="en" t={en} />);
    expect(screen.queryByText(/The page tries again by itself/)).toBeNull();
  });

  it("keeps an account number on one line", () => {
    render(<PaymentsTable payments={[payment({ paymentId: "00000000-0000-4000-8000-000000000001" })]} loading={false} locale="en" t={en} />);
    expect(screen.getByText("40817810099910004312").className).toBe("account");
  });
});
