"use client";

// Follows /api/system, the gateway's overview stream: the newest snapshot, or
// null while there is none. When the stream is refused (a gateway without one
// answers 404) it tries again after a while, as useEventStream does.

import { useEffect, useState } from "react";
import type { SystemSnapshot } from "@/lib/types";

const RETRY_MS = 5_000;

/** isSnapshot checks the parts the page iterates over, so a malformed snapshot is skipped, not rendered. */
export function isSnapshot(x: unknown): x is SystemSnapshot {
  const s = x as Partial<SystemSnapshot> | null;
  return (
    typeof s === "object" &&
    s !== null &&
    Array.isArray(s.functions) &&
    Array.isArray(s.topics) &&
    Array.isArray(s.groups) &&
    Array.isArray(s.deadLetters)
  );
}

export interface SystemStream {
  snapshot: SystemSnapshot | null;
  /** False after the stream was refused, until it opens again. */
  available: boolean;
}

export function useSystemStream(url: string): SystemStream {
  const [snapshot, setSnapshot] = useState<SystemSnapshot | null>(null);
  const [available, setAvailable] = useState(true);

  useEffect(() => {
    if (typeof EventSource === "undefined") return;
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;

    const connect = () => {
      source = new EventSource(url);
      source.addEventListener("open", () => setAvailable(true));
      source.addEventListener("overview", (e) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse((e as MessageEvent<string>).data);
        } catch {
          return; // skipped; the next one comes in a second
        }
        if (!isSnapshot(parsed)) return;
        setSnapshot(parsed);
        setAvailable(true);
      });
      source.addEventListener("error", () => {
        // EventSource reconnects by itself unless the answer was not a stream.
        if (stopped || source?.readyState !== EventSource.CLOSED) return;
        setAvailable(false);
        retry = setTimeout(connect, RETRY_MS);
      });
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
    };
  }, [url]);

  return { snapshot, available };
}
