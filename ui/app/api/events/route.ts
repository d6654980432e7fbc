// GET /api/events: the local gateway's /system/events stream (Server-Sent
// Events) of this browser's user's payments, passed through as it arrives.
// A real OpenFaaS gateway has no such stream and answers 404; so does this
// route then, and the page hides its events panel.

import type { NextRequest } from "next/server";
import { onlyUser } from "@/lib/server/events";
import { errorResponse, gateway, unreachableResponse } from "@/lib/server/gateway";
import { requireUser } from "@/lib/server/request";

export const dynamic = "force-dynamic";

export async function GET(request: NextRequest): Promise<Response> {
  const user = requireUser(request);
  if ("response" in user) return user.response;
  const headers: Record<string, string> = { Accept: "text/event-stream" };
  // EventSource sends the last id it saw when it reconnects; the gateway then
  // replays only what followed.
  const lastEventId = request.headers.get("last-event-id");
  if (lastEventId) headers["Last-Event-ID"] = lastEventId;

  let upstream: Response;
  try {
    // No timeout: the stream lasts as long as the page; the browser leaving
    // (request.signal) ends it, and with it the call to the gateway. The
    // stream is an admin route of the gateway: the server's credentials, never
    // the browser's.
    upstream = await gateway().call(`/system/events?${new URLSearchParams({ userId: user.userId })}`, {
      headers,
      signal: request.signal,
      timeoutMs: 0,
      admin: true,
    });
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
  return new Response(onlyUser(upstream.body, user.userId), {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      // no-transform keeps compression (which would buffer the stream) away.
      "Cache-Control": "no-cache, no-transform",
      "X-Accel-Buffering": "no",
    },
  });
}
