// GET /api/events: the local gateway's /system/events stream (Server-Sent
// Events), passed through as it arrives. A real OpenFaaS gateway has no such
// stream and answers 404; so does this route then, and the page hides its
// events panel.

import type { NextRequest } from "next/server";
import { proxyStream } from "@/lib/server/stream";

export const dynamic = "force-dynamic";

export async function GET(request: NextRequest): Promise<Response> {
  return proxyStream(request, "/system/events", "event stream");
}
