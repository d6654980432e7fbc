// GET /api/watch?ids=<uuid>,<uuid>…[&wait=seconds]: answers when one of this
// browser's pending payments is settled, or when the wait is over; see
// lib/server/watch.ts for why one call covers them all, and
// lib/server/limits.ts for how many a visitor may wait for.

import type { NextRequest } from "next/server";
import { errorResponse, gateway, unreachableResponse } from "@/lib/server/gateway";
import { watchLimiter } from "@/lib/server/limits";
import { intParam, requireUser } from "@/lib/server/request";
import { watchPayments } from "@/lib/server/watch";
import { isUUID, MAX_WATCHED_IDS } from "@/lib/types";

export const dynamic = "force-dynamic";

/** Seconds a refused watch should wait before asking again. */
const RETRY_AFTER = "5";

export async function GET(request: NextRequest): Promise<Response> {
  const user = requireUser(request);
  if ("response" in user) return user.response;
  const params = request.nextUrl.searchParams;
  const ids = [...new Set((params.get("ids") ?? "").split(",").filter((s) => s !== ""))];
  if (ids.length === 0 || ids.length > MAX_WATCHED_IDS || !ids.every(isUUID)) {
    return errorResponse(400, "invalid_request", `ids must be 1 to ${MAX_WATCHED_IDS} payment ids, comma-separated`);
  }
  const limiter = watchLimiter();
  const place = limiter.acquire(user.userId, ids.length);
  if (!place.ok) {
    return place.refusal === "visitor"
      ? errorResponse(429, "rate_limited", `at most ${limiter.perVisitor} watches at once per visitor`, { "Retry-After": RETRY_AFTER })
      : errorResponse(503, "unavailable", "this server waits for as many payments as it may; try again soon", {
          "Retry-After": RETRY_AFTER,
        });
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
  } finally {
    place.release();
  }
}
