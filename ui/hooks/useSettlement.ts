"use client";

// Long-polls the server for the results of the pending payments: one request
// covers them all and answers as soon as one is settled (see
// lib/server/watch.ts), then the next request covers the rest.

import { useEffect, useRef } from "react";
import { watchPayments, type ApiError } from "@/lib/client/api";
import { retryDelay, sleep, type BackoffPolicy } from "@/lib/client/backoff";
import type { WatchResult } from "@/lib/types";

/** How long the server may hold one request open. */
export const WAIT_SECONDS = 25;
export const WATCH_BACKOFF: BackoffPolicy = { firstMs: 1_000, maxMs: 30_000 };

export interface SettlementHandlers {
  /** Payments that left pending, and ids the API no longer knows. */
  onNews(result: WatchResult): void;
  /** The first failure of a run of failures; polling goes on with backoff. */
  onTrouble(error: ApiError): void;
}

export function useSettlement(pendingIds: readonly string[], handlers: SettlementHandlers): void {
  // The latest handlers, without restarting the poll when they change.
  const latest = useRef(handlers);
  useEffect(() => {
    latest.current = handlers;
  });

  const key = [...pendingIds].sort().join(",");
  useEffect(() => {
    if (key === "") return;
    const ids = key.split(",");
    const stop = new AbortController();
    void (async () => {
      let failures = 0;
      while (!stop.signal.aborted) {
        let result;
        try {
          result = await watchPayments(ids, WAIT_SECONDS, stop.signal);
        } catch {
          return; // only an abort throws: the ids changed or the page went away
        }
        if (stop.signal.aborted) return;
        if (result.ok) {
          failures = 0;
          if (result.data.payments.length > 0 || result.data.missing.length > 0) {
            // The caller's state changes, and with it the ids: this effect
            // starts over with the ones still pending.
            latest.current.onNews(result.data);
            return;
          }
          continue;
        }
        if (++failures === 1) latest.current.onTrouble(result.error);
        await sleep(retryDelay(failures, WATCH_BACKOFF, result.error.retryAfter), stop.signal);
      }
    })();
    return () => stop.abort();
  }, [key]);
}
