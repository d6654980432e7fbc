"use client";

// Long-polls the server for the results of the pending payments: one request
// covers them all and answers as soon as one is settled (see
// lib/server/watch.ts), then the next request covers the rest.

import { useEffect, useRef } from "react";
import { watchPayments, type ApiError } from "@/lib/client/api";
import type { WatchResult } from "@/lib/types";

/** How long the server may hold one request open. */
export const WAIT_SECONDS = 25;
const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

export interface SettlementHandlers {
  /** Payments that left pending, and ids the API no longer knows. */
  onNews(result: WatchResult): void;
  /** The first failure of a run of failures; polling goes on with backoff. */
  onTrouble(error: ApiError): void;
}

/** sleep waits ms, or less when signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
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
      let backoff = MIN_BACKOFF_MS;
      let troubled = false;
      while (!stop.signal.aborted) {
        let result;
        try {
          result = await watchPayments(ids, WAIT_SECONDS, stop.signal);
        } catch {
          return; // only an abort throws: the ids changed or the page went away
        }
        if (stop.signal.aborted) return;
        if (result.ok) {
          backoff = MIN_BACKOFF_MS;
          troubled = false;
          if (result.data.payments.length > 0 || result.data.missing.length > 0) {
            // The caller's state changes, and with it the ids: this effect
            // starts over with the ones still pending.
            latest.current.onNews(result.data);
            return;
          }
          continue;
        }
        if (!troubled) latest.current.onTrouble(result.error);
        troubled = true;
        const wait = result.error.retryAfter ? result.error.retryAfter * 1000 : backoff;
        await sleep(Math.min(wait, MAX_BACKOFF_MS), stop.signal);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    })();
    return () => stop.abort();
  }, [key]);
}
