// GET /api/system: the local gateway's /system/overview stream, one snapshot
// a second (functions, topics, consumer groups, dead letters), for the System
// page. A real OpenFaaS gateway has none and answers 404.

import type { NextRequest } from "next/server";
import { proxyStream } from "@/lib/server/stream";

export const dynamic = "force-dynamic";

export async function GET(request: NextRequest): Promise<Response> {
  return proxyStream(request, "/system/overview", "overview");
}
