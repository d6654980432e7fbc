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

/**
 * readJSONObject reads a small JSON object body, or returns the answer to
 * send: 415 without a JSON content type (which also keeps other sites' plain
 * HTML forms out: they cannot send one without a CORS preflight), 413 past
 * maxBytes, 400 for anything but an object.
 */
export async function readJSONObject(
  request: NextRequest,
  maxBytes: number,
): Promise<{ body: Record<string, unknown> } | { response: Response }> {
  if (!(request.headers.get("content-type") ?? "").toLowerCase().startsWith("application/json")) {
    return { response: errorResponse(415, "unsupported_media_type", "send application/json") };
  }
  const text = await request.text();
  if (new TextEncoder().encode(text).length > maxBytes) {
    return { response: errorResponse(413, "too_large", `the body must be at most ${maxBytes} bytes`) };
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      return { body: parsed as Record<string, unknown> };
    }
  } catch {
    // falls through to the 400 below
  }
  return { response: errorResponse(400, "invalid_request", "the body must be a JSON object") };
}
