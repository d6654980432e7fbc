// Waiting for many payments over one browser connection.
//
// A browser keeps at most six HTTP/1.1 connections to a host, so one long-poll
// per pending payment would starve the page after a few payments. The browser
// instead asks once for all its pending payments; this server long-polls
// get-payment for each of them (the gateway has no such limit) and answers as
// soon as one of them leaves pending, or when the wait is over.

import type { ApiErrorBody, Payment, WatchResult } from "../types";
import { toApiError, type Gateway } from "./gateway";

export type WatchOutcome =
  | { ok: true; result: WatchResult }
  | { ok: false; status: number; body: ApiErrorBody; retryAfter: string | null; cause?: unknown };

interface Watch {
  gateway: Gateway;
  userId: string;
  ids: string[];
  waitSeconds: number;
  /** Ends every call, when the browser goes away. */
  signal: AbortSignal;
  /** Time the gateway may take beyond the wait itself. */
  marginMs?: number;
}

type One =
  | { kind: "settled"; payment: Payment }
  | { kind: "pending" }
  | { kind: "missing"; id: string }
  | { kind: "failed"; status: number; body: ApiErrorBody; retryAfter: string | null; cause?: unknown };

/**
 * watchPayments long-polls every id and returns when the first one settles
 * (with every other one that settled by then) or when all waits are over.
 * It fails only when no call succeeded, so one bad answer among many does not
 * stall the rest.
 */
export async function watchPayments(w: Watch): Promise<WatchOutcome> {
  const done = new AbortController();
  const signal = AbortSignal.any([w.signal, done.signal]);
  const settled: Payment[] = [];
  const missing: string[] = [];
  const failures: Extract<One, { kind: "failed" }>[] = [];

  const one = async (id: string): Promise<One> => {
    const query = new URLSearchParams({ id, userId: w.userId, wait: String(w.waitSeconds) });
    try {
      const res = await w.gateway.call(`/function/get-payment?${query}`, {
        signal,
        timeoutMs: w.waitSeconds * 1000 + (w.marginMs ?? 15_000),
      });
      const text = await res.text();
      if (res.status === 404) return { kind: "missing", id };
      if (!res.ok) {
        // A 502/504 from a gateway means the function did not answer: the API's 503.
        const status = res.status === 502 || res.status === 504 ? 503 : res.status;
        return { kind: "failed", status, body: toApiError(res.status, text), retryAfter: res.headers.get("retry-after") };
      }
      const payment = JSON.parse(text) as Payment;
      return payment.state === "pending" ? { kind: "pending" } : { kind: "settled", payment };
    } catch (err) {
      if (done.signal.aborted) return { kind: "pending" }; // cut short because another one settled
      // No answer, a cut-off answer or one that is no payment: try again later.
      const message = err instanceof Error ? err.message : String(err);
      return {
        kind: "failed",
        status: 503,
        body: { error: { code: "unavailable", message } },
        retryAfter: "2",
        cause: err,
      };
    }
  };

  await new Promise<void>((resolve) => {
    let open = w.ids.length;
    if (open === 0) resolve();
    for (const id of w.ids) {
      void one(id).then((r) => {
        if (r.kind === "settled") settled.push(r.payment);
        if (r.kind === "missing") missing.push(r.id);
        if (r.kind === "failed") failures.push(r);
        // Answer at the first news, so the page shows it at once.
        if (r.kind === "settled" || r.kind === "missing") resolve();
        if (--open === 0) resolve();
      });
    }
  });
  done.abort();

  if (settled.length === 0 && missing.length === 0 && failures.length === w.ids.length && failures.length > 0) {
    const f = failures[0]!;
    return { ok: false, status: f.status, body: f.body, retryAfter: f.retryAfter, cause: f.cause };
  }
  return { ok: true, result: { payments: settled, missing } };
}
