// Small helpers shared by the route handlers.

import type { NextRequest } from "next/server";
import { errorResponse } from "./gateway";
import { userIdFrom } from "./user";

/** intParam reads an integer query parameter, clamped to [min, max]. */
export function intParam(value: string | null, min: number, max: number, fallback: number): number {
  if (value === null || value.trim() === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, Math.trunc(n)));
}

/**
 * requireUser returns the request's user id, or the answer to send when it
 * has none. The proxy gives every page visitor the cookie, so a request
 * without it comes from something other than the page.
 */
export function requireUser(request: NextRequest): { userId: string } | { response: Response } {
  const userId = userIdFrom(request.cookies);
  if (userId) return { userId };
  return {
    response: errorResponse(400, "invalid_request", "no user: open the page first, it sets the user cookie"),
  };
}
