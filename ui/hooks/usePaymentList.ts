"use client";

// Loads the user's payments from the API: the table survives a reload. While
// the API cannot be reached the hook says so and keeps trying, with growing,
// jittered pauses; retryNow tries at once.

import { useCallback, useEffect, useRef, useState } from "react";
import { listPayments, type ApiError } from "@/lib/client/api";
import { isRetryable, retryDelay, sleep, type BackoffPolicy } from "@/lib/client/backoff";
import type { Payment } from "@/lib/types";

export const LIST_BACKOFF: BackoffPolicy = { firstMs: 1_000, maxMs: 30_000 };

export type ListState =
  | { status: "loading" }
  | { status: "loaded" }
  /** retrying: whether the hook will ask again by itself (not after a 4xx). */
  | { status: "failed"; error: ApiError; retrying: boolean };

export function usePaymentList(userId: string, onLoad: (payments: Payment[]) => void): { state: ListState; retryNow(): void } {
  const [state, setState] = useState<ListState>({ status: "loading" });
  const [round, setRound] = useState(0);
  const latest = useRef(onLoad);
  useEffect(() => {
    latest.current = onLoad;
  });

  useEffect(() => {
    const stop = new AbortController();
    void (async () => {
      for (let failures = 1; ; failures++) {
        let res;
        try {
          res = await listPayments(stop.signal);
        } catch {
          return; // aborted: another user, a retry by hand, or the page went away
        }
        if (stop.signal.aborted) return;
        if (res.ok) {
          latest.current(res.data.payments);
          setState({ status: "loaded" });
          return;
        }
        const retrying = isRetryable(res.error.status);
        setState({ status: "failed", error: res.error, retrying });
        if (!retrying) return;
        await sleep(retryDelay(failures, LIST_BACKOFF, res.error.retryAfter), stop.signal);
        if (stop.signal.aborted) return;
      }
    })();
    return () => stop.abort();
  }, [userId, round]);

  // A new user starts as loading; a retry by hand keeps the error in view
  // until the answer comes, so the page does not flicker.
  const [shownUser, setShownUser] = useState(userId);
  if (shownUser !== userId) {
    setShownUser(userId);
    setState({ status: "loading" });
  }

  const retryNow = useCallback(() => setRound((r) => r + 1), []);
  return { state, retryNow };
}
