import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import { deferred, fakeFetch, FakeEventSource, payment, USER } from "@/test/fakes";
import { PaymentsApp } from "./PaymentsApp";

const P0 = "00000000-0000-4000-8000-000000000000";
const P1 = "11111111-0000-4000-8000-000000000001";
const P2 = "22222222-0000-4000-8000-000000000002";
const WAIT = { timeout: 10_000 };

const json = (body: unknown, init: ResponseInit = {}) => Response.json(body, init);

function rowOf(id: string): HTMLElement {
  const row = document.querySelector<HTMLElement>(`tr[data-payment-id="${id}"]`);
  if (!row) throw new Error(`no row for ${id}`);
  return row;
}

function liveRegion(): HTMLElement {
  return document.querySelector<HTMLElement>('[role="status"][aria-live="polite"]')!;
}

beforeEach(() => {
  FakeEventSource.install();
  document.cookie = "pp_locale=; max-age=0; path=/";
});

describe("PaymentsApp", () => {
  it("loads the payments, long-polls the pending one until it settles, and announces the result", async () => {
    const settle = deferred<Response>();
    const net = fakeFetch({
      "GET /api/payments": () =>
        json({
          payments: [
            payment({ paymentId: P1, created: "2026-11-25T15:05:00Z" }),
            payment({ paymentId: P0, state: "completed", created: "2026-11-25T15:00:00Z", processed: "2026-11-25T15:00:09Z" }),
          ],
        }),
      "GET /api/watch": () => settle.promise,
    });
    render(<PaymentsApp userId={USER} locale="en" />);

    await waitFor(() => expect(within(rowOf(P1)).getByText("Pending")).toBeTruthy(), WAIT);
    expect(within(rowOf(P0)).getByText("Completed")).toBeTruthy();
    await waitFor(() => expect(net.calls.some((c) => c.key === "GET /api/watch")).toBe(true), WAIT);
    const watch = net.calls.find((c) => c.key === "GET /api/watch")!;
    expect(watch.url.searchParams.get("ids")).toBe(P1); // only the pending one
    expect(watch.url.searchParams.get("wait")).toBe("25");

    settle.resolve(
      json({
        payments: [payment({ paymentId: P1, state: "rejected", created: "2026-11-25T15:05:00Z", processed: "2026-11-25T15:05:07Z", extPaymentDetails: "insufficient funds" })],
        missing: [],
      }),
    );
    await waitFor(() => expect(rowOf(P1).dataset.state).toBe("rejected"), WAIT);
    expect(within(rowOf(P1)).getByText("Rejected")).toBeTruthy();
    expect(within(rowOf(P1)).getByText("insufficient funds")).toBeTruthy();
    expect(liveRegion().textContent).toBe("Payment 11111111 rejected.");
    // Nothing is pending any more, so nothing is polled.
    expect(net.calls.filter((c) => c.key === "GET /api/watch")).toHaveLength(1);
  });

  it("adds a created payment as pending, announces it and starts waiting for it", async () => {
    const net = fakeFetch({
      "GET /api/payments": () => json({ payments: [] }),
      "POST /api/payments": (_url, init) => {
        const body = JSON.parse(init.body as string);
        return json(payment({ paymentId: P2, ...body }), { status: 201 });
      },
      "GET /api/watch": () => new Promise<Response>(() => {}),
    });
    const user = userEvent.setup();
    render(<PaymentsApp userId={USER} locale="en" />);
    await screen.findByText(/No payments yet/, undefined, WAIT);

    await user.type(screen.getByLabelText("Account number"), "40817810099910004312");
    await user.type(screen.getByLabelText("Amount"), "99.99");
    await user.click(screen.getByRole("button", { name: "Pay" }));

    await waitFor(() => expect(within(rowOf(P2)).getByText("Pending")).toBeTruthy(), WAIT);
    expect(within(rowOf(P2)).getByText("99.99")).toBeTruthy();
    expect(liveRegion().textContent).toBe("Payment 22222222 created; waiting for the provider.");
    const post = net.calls.find((c) => c.key === "POST /api/payments")!;
    expect((post.init.headers as Record<string, string>)["Idempotency-Key"]).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => expect(net.calls.find((c) => c.key === "GET /api/watch")?.url.searchParams.get("ids")).toBe(P2), WAIT);
  });

  it("shows an outage as a toast and keeps waiting", async () => {
    let watches = 0;
    const net = fakeFetch({
      "GET /api/payments": () => json({ payments: [payment({ paymentId: P1 })] }),
      "GET /api/watch": () => {
        watches++;
        if (watches === 1) {
          return json({ error: { code: "unavailable", message: "db down" } }, { status: 503, headers: { "Retry-After": "1" } });
        }
        return json({ payments: [payment({ paymentId: P1, state: "completed", processed: "2026-11-25T15:05:07Z" })], missing: [] });
      },
    });
    render(<PaymentsApp userId={USER} locale="en" />);
    const alert = await screen.findByRole("alert", undefined, WAIT);
    expect(alert.textContent).toContain("Results cannot be checked right now. The payment service is unavailable right now. The page keeps trying.");
    await waitFor(() => expect(rowOf(P1).dataset.state).toBe("completed"), WAIT);
    expect(net.calls.filter((c) => c.key === "GET /api/watch")).toHaveLength(2);
  });

  it("shows that the list cannot be loaded instead of loading forever, and loads it when the API is back", async () => {
    let lists = 0;
    const net = fakeFetch({
      "GET /api/payments": () =>
        lists++ === 0
          ? json({ error: { code: "unavailable", message: "db down" } }, { status: 503, headers: { "Retry-After": "1" } })
          : json({ payments: [payment({ paymentId: P0, state: "completed" })] }),
    });
    render(<PaymentsApp userId={USER} locale="en" />);
    const alert = await screen.findByRole("alert", undefined, WAIT);
    // A failed load lost nothing, but it made nothing either: no "nothing was lost" here.
    expect(alert.textContent).toBe("Your payments could not be loaded. The payment service is unavailable right now.");
    const state = screen.getByTestId("load-error");
    expect(within(state).getByText("The page tries again by itself, waiting longer each time.")).toBeTruthy();
    expect(within(state).getByRole("button", { name: "Try again now" })).toBeTruthy();
    expect(screen.queryByText("Loading payments…")).toBeNull();
    await waitFor(() => rowOf(P0), WAIT);
    expect(net.calls.filter((c) => c.key === "GET /api/payments")).toHaveLength(2);
    expect(screen.queryByTestId("load-error")).toBeNull();
    expect(screen.queryAllByRole("alert")).toHaveLength(0);
  });

  it("stops on a refusal that asking again cannot fix, and tries again when asked", async () => {
    let lists = 0;
    const net = fakeFetch({
      "GET /api/payments": () =>
        lists++ === 0
          ? json({ error: { code: "invalid_request", message: "userId: must be a UUID" } }, { status: 400 })
          : json({ payments: [payment({ paymentId: P0, state: "completed" })] }),
    });
    const user = userEvent.setup();
    render(<PaymentsApp userId={USER} locale="ru" />);
    const alert = await screen.findByRole("alert", undefined, WAIT);
    expect(alert.textContent).toBe("Не удалось загрузить платежи. Что-то пошло не так: userId: must be a UUID");
    expect(screen.queryByText("Страница пробует снова сама, с растущими паузами.")).toBeNull();
    expect(net.calls.filter((c) => c.key === "GET /api/payments")).toHaveLength(1);

    await user.click(screen.getByRole("button", { name: "Повторить сейчас" }));
    await waitFor(() => rowOf(P0), WAIT);
    expect(screen.queryByTestId("load-error")).toBeNull();
    expect(net.calls.filter((c) => c.key === "GET /api/payments")).toHaveLength(2);
  });

  it("shows one toast for a notice that repeats, not a stack of copies", async () => {
    fakeFetch({
      "GET /api/payments": () => json({ payments: [] }),
      "POST /api/payments": () =>
        json({ error: { code: "unavailable", message: "database is unavailable" } }, { status: 503, headers: { "Retry-After": "2" } }),
    });
    const user = userEvent.setup();
    render(<PaymentsApp userId={USER} locale="en" />);
    await screen.findByText(/No payments yet/, undefined, WAIT);
    await user.type(screen.getByLabelText("Account number"), "40817810099910004312");
    await user.type(screen.getByLabelText("Amount"), "10");
    const pay = screen.getByRole("button", { name: "Pay" });
    await user.click(pay);
    await screen.findByRole("alert", undefined, WAIT);
    await user.click(pay);
    await user.click(pay);
    await waitFor(() => expect(screen.getByRole("button", { name: "Pay" }).getAttribute("aria-busy")).toBe("false"), WAIT);
    const alerts = screen.getAllByRole("alert");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.textContent).toContain(
      "The payment service is unavailable right now, so the payment was not made. Your form is kept: try again in 2 s.",
    );
  });

  it("shows the API's field error beside the field, not as a toast", async () => {
    fakeFetch({
      "GET /api/payments": () => json({ payments: [] }),
      "POST /api/payments": () =>
        json(
          { error: { code: "invalid_request", message: "amount: must not exceed 1000000.00", fields: { amount: "must not exceed 1000000.00" } } },
          { status: 400 },
        ),
    });
    const user = userEvent.setup();
    render(<PaymentsApp userId={USER} locale="en" />);
    await user.type(screen.getByLabelText("Account number"), "4081");
    await user.type(screen.getByLabelText("Amount"), "1000000.01");
    await user.click(screen.getByRole("button", { name: "Pay" }));
    await waitFor(() => expect(document.getElementById("amount-error")!.textContent).toBe("The amount must not exceed 1,000,000.00."), WAIT);
    expect(screen.queryByRole("alert")).toBeNull();
    expect(document.querySelectorAll("tbody tr")).toHaveLength(0);
  });

  it("shows the events panel only while the stream is open, with each payment's records", async () => {
    fakeFetch({
      "GET /api/payments": () => json({ payments: [payment({ paymentId: P0, state: "completed", processed: "2026-11-25T15:00:09Z" })] }),
    });
    render(<PaymentsApp userId={USER} locale="en" />);
    await waitFor(() => rowOf(P0), WAIT);
    expect(screen.queryByRole("heading", { name: "Events" })).toBeNull();

    const stream = FakeEventSource.latest();
    expect(stream.url).toBe("/api/events");
    act(() => {
      stream.open();
      const ce = { id: "e", source: "/functions/create-payment", subject: P0, time: "2026-11-25T15:00:00Z" };
      stream.record({ topic: "payments", partition: 1, offset: 7, key: P0, timestamp: "2026-11-25T15:00:00Z", cloudEvent: { ...ce, type: "dev.paymentpet.payment.created.v1" } });
      stream.record({ topic: "paymentsResults", partition: 2, offset: 3, key: P0, timestamp: "2026-11-25T15:00:09Z", cloudEvent: { ...ce, type: "dev.paymentpet.payment.processed.v1" } });
      // A replay after a reconnect repeats a record; it is shown once.
      stream.record({ topic: "payments", partition: 1, offset: 7, key: P0, timestamp: "2026-11-25T15:00:00Z", cloudEvent: { ...ce, type: "dev.paymentpet.payment.created.v1" } });
      // Someone else's payment is not listed.
      stream.record({ topic: "payments", partition: 0, offset: 1, key: P2, timestamp: "2026-11-25T15:00:00Z", cloudEvent: null });
    });
    await screen.findByRole("heading", { name: "Events" }, WAIT);
    const group = document.querySelector<HTMLElement>(`[data-events-for="${P0}"]`)!;
    await waitFor(() => expect(within(group).getByText("2 events")).toBeTruthy(), WAIT);
    const types = [...group.querySelectorAll("tbody tr")].map((r) => r.getAttribute("data-event-type"));
    expect(types).toEqual(["dev.paymentpet.payment.created.v1", "dev.paymentpet.payment.processed.v1"]);
    expect(within(group).getByText("paymentsResults")).toBeTruthy();
    expect(document.querySelectorAll("[data-events-for]")).toHaveLength(1);

    act(() => stream.refuse()); // e.g. the gateway answers 404: there is no stream
    await waitFor(() => expect(screen.queryByRole("heading", { name: "Events" })).toBeNull(), WAIT);
  });

  it("switches to Russian and remembers it", async () => {
    fakeFetch({ "GET /api/payments": () => json({ payments: [] }) });
    const user = userEvent.setup();
    render(<PaymentsApp userId={USER} locale="en" />);
    await user.click(screen.getByRole("button", { name: "Русский" }));
    expect(screen.getByRole("heading", { name: "Новый платёж" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Русский" }).getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByRole("button", { name: "English" }).getAttribute("aria-pressed")).toBe("false");
    expect(document.documentElement.lang).toBe("ru");
    expect(document.cookie).toContain("pp_locale=ru");
  });

  it("starts over as a new user with an empty table", async () => {
    const NEW_USER = "99999999-0000-4000-8000-000000000009";
    let lists = 0;
    const net = fakeFetch({
      "GET /api/payments": () => json({ payments: lists++ === 0 ? [payment({ paymentId: P0, state: "completed" })] : [] }),
      "POST /api/user": () => json({ userId: NEW_USER }),
    });
    const user = userEvent.setup();
    render(<PaymentsApp userId={USER} locale="en" />);
    await waitFor(() => rowOf(P0), WAIT);
    expect(screen.getByTestId("user-id").textContent).toBe(USER);

    await user.click(screen.getByRole("button", { name: "New user" }));
    await waitFor(() => expect(screen.getByTestId("user-id").textContent).toBe(NEW_USER), WAIT);
    await screen.findByText(/No payments yet/, undefined, WAIT);
    expect(net.calls.filter((c) => c.key === "GET /api/payments")).toHaveLength(2);
    const notices = within(screen.getByRole("region", { name: "Notifications" }));
    expect(notices.getByText("You are a new user now, with no payments yet.")).toBeTruthy();
  });
});
