"use client";

// Follows the gateway's event stream through /api/events and groups the
// records by payment id (the Kafka key). available is false until the stream
// opens, and again whenever it cannot be had: where the gateway has none (a
// real OpenFaaS deployment answers 404) the page simply shows no panel.

import { useCallback, useEffect, useRef, useState } from "react";
import type { StreamEvent } from "@/lib/types";

const FIRST_RETRY_MS = 5_000;
const MAX_RETRY_MS = 5 * 60_000;
/** Records kept at most; the oldest go first. The stream carries every user's payments. */
export const MAX_KEPT = 2_000;
/** Records arrive in bursts (the history on connect); one render per burst. */
const FLUSH_MS = 100;

export interface EventStream {
  available: boolean;
  eventsFor(paymentId: string): StreamEvent[];
}

function isStreamEvent(x: unknown): x is StreamEvent {
  const e = x as Partial<StreamEvent> | null;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof e.topic === "string" &&
    typeof e.partition === "number" &&
    typeof e.offset === "number" &&
    typeof e.key === "string"
  );
}

export function useEventStream(url: string): EventStream {
  const [available, setAvailable] = useState(false);
  const [byKey, setByKey] = useState<ReadonlyMap<string, StreamEvent[]>>(() => new Map());
  const store = useRef({ byKey: new Map<string, StreamEvent[]>(), seen: new Set<string>(), order: [] as string[] });

  useEffect(() => {
    if (typeof EventSource === "undefined") return;
    let source: EventSource | null = null;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let flushTimer: ReturnType<typeof setTimeout> | undefined;
    let retryMs = FIRST_RETRY_MS;
    let stopped = false;
    const s = store.current;

    const flush = () => {
      flushTimer = undefined;
      setByKey(new Map(s.byKey));
    };

    const add = (ev: StreamEvent) => {
      // A reconnect may replay what was seen; the record's place in Kafka is its identity.
      const id = `${ev.topic}/${ev.partition}/${ev.offset}`;
      if (s.seen.has(id)) return;
      s.seen.add(id);
      s.order.push(id);
      const list = s.byKey.get(ev.key) ?? [];
      s.byKey.set(ev.key, [...list, ev]);
      while (s.order.length > MAX_KEPT) {
        const old = s.order.shift()!;
        s.seen.delete(old);
        for (const [key, events] of s.byKey) {
          const rest = events.filter((e) => `${e.topic}/${e.partition}/${e.offset}` !== old);
          if (rest.length !== events.length) {
            if (rest.length === 0) s.byKey.delete(key);
            else s.byKey.set(key, rest);
            break;
          }
        }
      }
      flushTimer ??= setTimeout(flush, FLUSH_MS);
    };

    const open = () => {
      source = new EventSource(url);
      source.addEventListener("open", () => {
        retryMs = FIRST_RETRY_MS;
        setAvailable(true);
      });
      source.addEventListener("record", (msg) => {
        try {
          const ev: unknown = JSON.parse((msg as MessageEvent<string>).data);
          if (isStreamEvent(ev)) add(ev);
        } catch {
          // A record that is not JSON is not ours to show.
        }
      });
      source.addEventListener("error", () => {
        // CONNECTING: the browser reconnects by itself. CLOSED: the server
        // said no (404 where there is no stream, 503 while the gateway is
        // down); hide the panel and ask again later, less and less often.
        if (stopped || source?.readyState !== EventSource.CLOSED) return;
        setAvailable(false);
        source.close();
        retryTimer = setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      });
    };
    open();

    return () => {
      stopped = true;
      source?.close();
      clearTimeout(retryTimer);
      clearTimeout(flushTimer);
    };
  }, [url]);

  const eventsFor = useCallback((paymentId: string) => byKey.get(paymentId) ?? [], [byKey]);
  return { available, eventsFor };
}
