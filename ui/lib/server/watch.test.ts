// @vitest-environment node
import { describe, expect, it } from "vitest";
import type { Payment } from "../types";
import { Gateway } from "./gateway";
import { watchPayments } from "./watch";

const USER = "5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11";
const A = "0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10";
const B = "1b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10";
const C = "2b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10";

function payment(id: string, state: Payment["state"]): Payment {
  return {
    paymentId: id,
    userId: USER,
    accountNumber: "1",
    amount: "1.00",
    description: "",
    state,
    created: "2026-11-25T15:04:05Z",
    processed: state === "pending" ? null : "2026-11-25T15:04:09Z",
    extPaymentDetails: state === "pending" ? null : "ok",
  };
}

type Answer = Response | "hang";

/** A gateway whose get-payment answers per id; "hang" waits until aborted, as a long-poll does. */
function fakeGateway(answers: Record<string, Answer>) {
  const seen: URLSearchParams[] = [];
  const aborted: string[] = [];
  const fetchFn = ((url: string, init: RequestInit) => {
    const q = new URL(url).searchParams;
    seen.push(q);
    const id = q.get("id")!;
    const answer = answers[id]!;
    if (answer !== "hang") return Promise.resolve(answer.clone());
    return new Promise<Response>((_resolve, reject) =>
      init.signal!.addEventListener("abort", () => {
        aborted.push(id);
        reject(init.signal!.reason);
      }),
    );
  }) as unknown as typeof fetch;
  return { gateway: new Gateway({ url: "http://gw", apiKey: "", timeoutMs: 1000 }, fetchFn), seen, aborted };
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status });

describe("watchPayments", () => {
  it("answers with the first settled payment and ends the other long-polls", async () => {
    const fake = fakeGateway({ [A]: "hang", [B]: json(payment(B, "completed")), [C]: "hang" });
    const out = await watchPayments({ gateway: fake.gateway, userId: USER, ids: [A, B, C], waitSeconds: 25, signal: new AbortController().signal });
    expect(out).toEqual({ ok: true, result: { payments: [payment(B, "completed")], missing: [] } });
    expect(fake.seen.map((q) => [q.get("userId"), q.get("wait")])).toEqual([
      [USER, "25"],
      [USER, "25"],
      [USER, "25"],
    ]);
    expect(fake.aborted.sort()).toEqual([A, C]);
  });

  it("answers with nothing when every wait ends still pending", async () => {
    const fake = fakeGateway({ [A]: json(payment(A, "pending")), [B]: json(payment(B, "pending")) });
    const out = await watchPayments({ gateway: fake.gateway, userId: USER, ids: [A, B], waitSeconds: 1, signal: new AbortController().signal });
    expect(out).toEqual({ ok: true, result: { payments: [], missing: [] } });
  });

  it("reports payments the API does not know", async () => {
    const fake = fakeGateway({ [A]: json({ error: { code: "not_found", message: "no" } }, 404), [B]: "hang" });
    const out = await watchPayments({ gateway: fake.gateway, userId: USER, ids: [A, B], waitSeconds: 1, signal: new AbortController().signal });
    expect(out).toEqual({ ok: true, result: { payments: [], missing: [A] } });
  });

  it("fails with the API's error only when every call failed", async () => {
    const unavailable = new Response(JSON.stringify({ error: { code: "unavailable", message: "db down" } }), {
      status: 503,
      headers: { "Retry-After": "7" },
    });
    const fake = fakeGateway({ [A]: unavailable, [B]: unavailable });
    const out = await watchPayments({ gateway: fake.gateway, userId: USER, ids: [A, B], waitSeconds: 1, signal: new AbortController().signal });
    expect(out).toMatchObject({ ok: false, status: 503, retryAfter: "7", body: { error: { code: "unavailable" } } });

    const mixed = fakeGateway({ [A]: unavailable, [B]: json(payment(B, "pending")) });
    const partly = await watchPayments({ gateway: mixed.gateway, userId: USER, ids: [A, B], waitSeconds: 1, signal: new AbortController().signal });
    expect(partly).toEqual({ ok: true, result: { payments: [], missing: [] } });
  });

  it("stops waiting when the browser leaves", async () => {
    const fake = fakeGateway({ [A]: "hang" });
    const leave = new AbortController();
    const out = watchPayments({ gateway: fake.gateway, userId: USER, ids: [A], waitSeconds: 25, signal: leave.signal });
    leave.abort();
    await out;
    expect(fake.aborted).toEqual([A]);
  });
});
