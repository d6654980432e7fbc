import { act, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { beforeEach, describe, expect, it } from "vitest";
import type { SystemSnapshot } from "@/lib/types";
import { fakeFetch, FakeEventSource } from "@/test/fakes";
import { SystemPage } from "./SystemPage";

function snapshot(over: Partial<SystemSnapshot> = {}): SystemSnapshot {
  return {
    time: "2026-11-30T10:00:00Z",
    functions: [
      {
        name: "process-payment",
        replicas: 2,
        availableReplicas: 1,
        min: 1,
        max: 3,
        scaleType: "capacity",
        target: 50,
        scaleToZero: false,
        instances: [
          { id: 0, ready: true, addr: "127.0.0.1:1", calls: 40 },
          { id: 1, ready: false, calls: 0 },
        ],
        invocations: 60,
        rps: 12.5,
        p50: 0.2,
        p99: 0.9,
        inFlight: 3,
        coldStarts: 2,
        coldStartMean: 0.012,
      },
    ],
    topics: [{ name: "payments", partitions: [{ partition: 0, leader: 1, start: 0, end: 42 }] }],
    groups: [{ group: "process-payment", topic: "payments", partitions: [{ partition: 0, committed: 40, end: 42, lag: 2 }] }],
    deadLetters: [
      {
        topic: "payments.dlq",
        partition: 0,
        offset: 3,
        key: "poison",
        function: "process-payment",
        reason: "not retryable: status 400",
        status: 400,
        attempts: 1,
        originalTopic: "payments",
        originalPartition: 0,
        originalOffset: 7,
        time: "2026-11-30T09:59:00Z",
      },
    ],
    ...over,
  };
}

function row(selector: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`nothing matches ${selector}`);
  return el;
}

beforeEach(() => {
  FakeEventSource.install();
});

describe("SystemPage", () => {
  it("shows each snapshot of the stream: replicas, load, topics, lag and dead letters", () => {
    render(<SystemPage locale="en" />);
    expect(screen.getByTestId("system-status").textContent).toContain("Waiting");
    const stream = FakeEventSource.latest();
    expect(stream.url).toBe("/api/system");
    act(() => stream.emit("overview", snapshot()));

    const fn = row('tr[data-function="process-payment"]');
    expect(within(fn).getByTestId("replicas-process-payment").textContent).toBe("1 / 2");
    expect(fn.textContent).toContain("#0 ready, 40 calls");
    expect(fn.textContent).toContain("#1 starting, 0 calls");
    expect(fn.textContent).toContain("12.5");
    expect(fn.textContent).toContain("900 ms");
    expect(fn.textContent).toContain("2 (mean 12 ms)");
    expect(row('table[data-topic="payments"]').textContent).toContain("42");
    expect(row('tr[data-lag-for="process-payment/payments/0"]').textContent).toBe("process-paymentpayments040422");
    expect(row('tr[data-dead-letter="payments.dlq/0/3"]').textContent).toContain("not retryable: status 400");
    expect(screen.getByTestId("system-status").textContent).toContain("Live");

    act(() => stream.emit("overview", { ...snapshot(), deadLetters: null })); // malformed: skipped
    expect(row('tr[data-dead-letter="payments.dlq/0/3"]')).toBeTruthy();
    act(() => stream.emit("overview", snapshot({ groups: [], deadLetters: [] })));
    expect(document.querySelector("tr[data-lag-for]")).toBeNull();
    expect(screen.getByText("No dead letters.")).toBeTruthy();
  });

  it("scales a function and replays a dead letter through the UI's routes", async () => {
    const net = fakeFetch({
      "POST /api/system/scale": () => new Response(null, { status: 202 }),
      "POST /api/system/replay": () => Response.json({ replayed: 1 }),
    });
    render(<SystemPage locale="en" />);
    act(() => FakeEventSource.latest().emit("overview", snapshot()));
    const user = userEvent.setup();

    const input = screen.getByLabelText("Replicas of process-payment");
    await user.clear(input);
    await user.type(input, "3");
    await user.click(within(row('tr[data-function="process-payment"]')).getByRole("button", { name: "Scale" }));
    expect((await screen.findByRole("alert")).textContent).toBe("process-payment: 3 replicas asked for.");
    expect(JSON.parse(net.calls[0]!.init.body as string)).toEqual({ function: "process-payment", replicas: 3 });

    await user.click(within(row('tr[data-dead-letter="payments.dlq/0/3"]')).getByRole("button", { name: "Replay" }));
    expect((await screen.findByText("Replayed 1."))).toBeTruthy();
    expect(JSON.parse(net.calls[1]!.init.body as string)).toEqual({ topic: "payments.dlq", partition: 0, offset: 3 });
  });

  it("says why a scale was refused", async () => {
    fakeFetch({
      "POST /api/system/scale": () =>
        Response.json({ error: { code: "invalid_request", message: "4 replicas is above max 3" } }, { status: 400 }),
    });
    render(<SystemPage locale="en" />);
    act(() => FakeEventSource.latest().emit("overview", snapshot()));
    const user = userEvent.setup();
    await user.click(within(row('tr[data-function="process-payment"]')).getByRole("button", { name: "Scale" }));
    expect((await screen.findByRole("alert")).textContent).toBe("Scaling process-payment failed: 4 replicas is above max 3");
  });

  it("says so when the gateway has no overview", () => {
    render(<SystemPage locale="ru" />);
    act(() => FakeEventSource.latest().refuse());
    expect(screen.getByTestId("system-status").textContent).toContain("Обзора нет");
  });
});
