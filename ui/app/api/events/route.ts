// GET /api/events: the local gateway's /system/events stream (Server-Sent
// Events) of this browser's user's payments, passed through as it arrives.
// A real OpenFaaS gateway has no such stream and answers 404; so does this
// route then, and the page hides its events panel.

import type { NextRequest } from "next/server";
import { onlyUser } from "@/lib/server/events";
import { requireUser } from "@/lib/server/request";
import { proxyStream } from "@/lib/server/stream";

export const dynamic = "force-dynamic";

export async function GET(request: NextRequest): Promise<Response> {
  const user = requireUser(request);
  if ("response" in user) return user.response;
  // The gateway filters by userId; onlyUser drops anything else all the same.
  const path = `/system/events?${new URLSearchParams({ userId: user.userId })}`;
  return proxyStream(request, path, "event stream", (body) => onlyUser(body, user.userId));
}
