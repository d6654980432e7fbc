"use client";

// Follows /api/system, the gateway's overview stream: the newest snapshot, or
// null while there is none. When the stream is refused (a gateway without one
// answers 404) it tries again after a while, as useEventStream does.

import { useEffect, useState } from "react";
import type { SystemSnapshot } from "@/lib/types";

const RETRY_MS = 5_000;

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
        try {
          setSnapshot(JSON.parse((e as MessageEvent<string>).data) as SystemSnapshot);
          setAvailable(true);
        } catch {
          // A snapshot that does not parse is skipped; the next one comes in a second.
        }
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
