// GET /api/payments: this browser's payments, newest first.
// POST /api/payments: create a payment for this browser's user.

import type { NextRequest } from "next/server";
import { errorResponse, gateway, relay, unreachableResponse } from "@/lib/server/gateway";
import { intParam, requireUser } from "@/lib/server/request";

export const dynamic = "force-dynamic";

/** Bodies larger than this are no payment form. */
const MAX_BODY_BYTES = 16 * 1024;
const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export async function GET(request: NextRequest): Promise<Response> {
  const user = requireUser(request);
  if ("response" in user) return user.response;
  const query = new URLSearchParams({
    userId: user.userId,
    limit: String(intParam(request.nextUrl.searchParams.get("limit"), 1, 100, 50)),
  });
  try {
    return await relay(await gateway().call(`/function/get-payment?${query}`, { signal: request.signal }));
  } catch (err) {
    return unreachableResponse(err);
  }
}

export async function POST(request: NextRequest): Promise<Response> {
  const user = requireUser(request);
  if ("response" in user) return user.response;
  // A JSON content type also keeps other sites' plain HTML forms out: they
  // cannot send it without a CORS preflight, which this route never allows.
  if (!(request.headers.get("content-type") ?? "").toLowerCase().startsWith("application/json")) {
    return errorResponse(415, "unsupported_media_type", "send the payment as application/json");
  }
  const tooLarge = () => errorResponse(413, "too_large", `the body must be at most ${MAX_BODY_BYTES} bytes`);
  if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) return tooLarge();
  const text = await request.text();
  if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) return tooLarge();
  let form: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    form = parsed as Record<string, unknown>;
  } catch {
    return errorResponse(400, "invalid_request", "the body must be a JSON object");
  }

  // Only the form's fields go on; the user is the cookie's, whatever the body says.
  const body = JSON.stringify({
    userId: user.userId,
    accountNumber: form.accountNumber,
    amount: form.amount,
    description: form.description ?? "",
  });
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  const key = request.headers.get("idempotency-key");
  if (key !== null) {
    if (key === "" || key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
      return errorResponse(400, "invalid_request", `Idempotency-Key must have 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`);
    }
    headers["Idempotency-Key"] = key;
  }
  try {
    return await relay(
      await gateway().call("/function/create-payment", { method: "POST", headers, body, signal: request.signal }),
    );
  } catch (err) {
    return unreachableResponse(err);
  }
}
