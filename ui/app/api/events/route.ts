// GET /api/events: the local gateway's /system/events stream (Server-Sent
// Events), passed through as it arrives. A real OpenFaaS gateway has no such
// stream and answers 404; so does this route then, and the page hides its
// events panel.

import type { NextRequest } from "next/server";
import { errorResponse, gateway, unreachableResponse } from "@/lib/server/gateway";

export const dynamic = "force-dynamic";

export async function GET(request: NextRequest): Promise<Response> {
  const headers: Record<string, string> = { Accept: "text/event-stream" };
  // EventSource sends the last id it saw when it reconnects; the gateway then
  // replays only what followed.
  const lastEventId = request.headers.get("last-event-id");
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;

  let upstream: Response;
  try {
    // No timeout: the stream lasts as long as the page; the browser leaving
    // (request.signal) ends it, and with it the call to the gateway.
    upstream = await gateway().call("/system/events", { headers, signal: request.signal, timeoutMs: 0 });
  } catch (err) {
    return unreachableResponse(err);
  }
  const type = upstream.headers.get("content-type") ?? "";
  if (!upstream.ok || !type.startsWith("text/event-stream") || upstream.body === null) {
    await upstream.body?.cancel();
    if (upstream.status === 404) return errorResponse(404, "not_found", "the gateway has no event stream");
    return errorResponse(503, "unavailable", `the gateway's event stream answered ${upstream.status}`, {
      "Retry-After": "5",
    });
  }
  return new Response(upstream.body, {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      // no-transform keeps compression (which would buffer the stream) away.
      "Cache-Control": "no-cache, no-transform",
      "X-Accel-Buffering": "no",
    },
  });
}
