// GET /api/payments/{id}[?wait=seconds]: one payment of this browser's user;
// with wait, a long-poll that answers as soon as the payment leaves pending.

import type { NextRequest } from "next/server";
import { errorResponse, gateway, relay, unreachableResponse } from "@/lib/server/gateway";
import { intParam, requireUser } from "@/lib/server/request";
import { isUUID } from "@/lib/types";

export const dynamic = "force-dynamic";

/** The API's longest long-poll (LONG_POLL_MAX_WAIT). */
const MAX_WAIT_SECONDS = 30;
/** Time the gateway may take beyond the wait itself. */
const WAIT_MARGIN_MS = 15_000;

export async function GET(request: NextRequest, ctx: { params: Promise<{ id: string }> }): Promise<Response> {
  const user = requireUser(request);
  if ("response" in user) return user.response;
  const { id } = await ctx.params;
  if (!isUUID(id)) return errorResponse(404, "not_found", "no such payment");
  const wait = intParam(request.nextUrl.searchParams.get("wait"), 0, MAX_WAIT_SECONDS, 0);
  const query = new URLSearchParams({ id: id.toLowerCase(), userId: user.userId });
  if (wait > 0) query.set("wait", String(wait));
  try {
    const upstream = await gateway().call(`/function/get-payment?${query}`, {
      signal: request.signal,
      timeoutMs: wait * 1000 + WAIT_MARGIN_MS,
    });
    return await relay(upstream);
  } catch (err) {
    return unreachableResponse(err);
  }
}
