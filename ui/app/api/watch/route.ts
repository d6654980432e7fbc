// GET /api/watch?ids=<uuid>,<uuid>…[&wait=seconds]: answers when one of this
// browser's pending payments is settled, or when the wait is over; see
// lib/server/watch.ts for why one call covers them all.

import type { NextRequest } from "next/server";
import { errorResponse, gateway, unreachableResponse } from "@/lib/server/gateway";
import { intParam, requireUser } from "@/lib/server/request";
import { MAX_WATCHED, watchPayments } from "@/lib/server/watch";
import { isUUID } from "@/lib/types";

export const dynamic = "force-dynamic";

export async function GET(request: NextRequest): Promise<Response> {
  const user = requireUser(request);
  if ("response" in user) return user.response;
  const params = request.nextUrl.searchParams;
  const ids = [...new Set((params.get("ids") ?? "").split(",").filter((s) => s !== ""))];
  if (ids.length === 0 || ids.length > MAX_WATCHED || !ids.every(isUUID)) {
    return errorResponse(400, "invalid_request", `ids must be 1 to ${MAX_WATCHED} payment ids, comma-separated`);
  }
  const waitSeconds = intParam(params.get("wait"), 1, 30, 25);
  try {
    const outcome = await watchPayments({
      gateway: gateway(),
      userId: user.userId,
      ids: ids.map((id) => id.toLowerCase()),
      waitSeconds,
      signal: request.signal,
    });
    if (!outcome.ok) {
      return Response.json(outcome.body, {
        status: outcome.status,
        headers: { "Cache-Control": "no-store", ...(outcome.retryAfter ? { "Retry-After": outcome.retryAfter } : {}) },
      });
    }
    return Response.json(outcome.result, { headers: { "Cache-Control": "no-store" } });
  } catch (err) {
    return unreachableResponse(err);
  }
}
