// Passing one of the gateway's Server-Sent Event streams through to the
// browser, as it arrives.

import type { NextRequest } from "next/server";
import { errorResponse, gateway, unreachableResponse } from "./gateway";

/**
 * proxyStream relays the gateway's stream at path. A gateway without it (a
 * real OpenFaaS gateway) answers 404, and so does this; anything else that is
 * not a stream is a 503 to retry.
 */
export async function proxyStream(
  request: NextRequest,
  path: string,
  what: string,
  filter: (body: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array> = (body) => body,
): Promise<Response> {
  const headers: Record<string, string> = { Accept: "text/event-stream" };
  // EventSource sends the last id it saw when it reconnects; the gateway then
  // replays only what followed.
  const lastEventId = request.headers.get("last-event-id");
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;

  let upstream: Response;
  try {
    // No timeout: the stream lasts as long as the page; the browser leaving
    // (request.signal) ends it, and with it the call to the gateway. The
    // streams are admin routes of the gateway: the server's credentials, never
    // the browser's.
    upstream = await gateway().call(path, { headers, signal: request.signal, timeoutMs: 0, admin: true });
  } catch (err) {
    return unreachableResponse(err);
  }
  const type = upstream.headers.get("content-type") ?? "";
  if (!upstream.ok || !type.startsWith("text/event-stream") || upstream.body === null) {
    await upstream.body?.cancel();
    if (upstream.status === 404) return errorResponse(404, "not_found", `the gateway has no ${what}`);
    return errorResponse(503, "unavailable", `the gateway's ${what} answered ${upstream.status}`, {
      "Retry-After": "5",
    });
  }
  return new Response(filter(upstream.body), {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      // no-transform keeps compression (which would buffer the stream) away.
      "Cache-Control": "no-cache, no-transform",
      "X-Accel-Buffering": "no",
    },
  });
}
