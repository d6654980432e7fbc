// The browser's calls to the UI server's /api routes. Every answer becomes an
// ApiResult, so callers handle a refused payment, an outage and a lost
// connection in one place; only an abort is thrown.

import { MAX_WATCHED_IDS, type ApiErrorBody, type NewPayment, type Payment, type WatchResult } from "../types";

export type ApiError = ApiErrorBody["error"] & {
  status: number;
  /** Seconds to wait before trying again, from Retry-After. */
  retryAfter?: number;
};

export type ApiResult<T> = { ok: true; data: T; status: number } | { ok: false; error: ApiError };

/** The code of an error that never reached the server. */
export const NETWORK_ERROR = "network";

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}

async function request<T>(url: string, init: RequestInit = {}): Promise<ApiResult<T>> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: { Accept: "application/json", ...init.headers } });
  } catch (err) {
    if (isAbort(err) || init.signal?.aborted) throw err;
    return { ok: false, error: { code: NETWORK_ERROR, message: String(err), status: 0 } };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    if (isAbort(err) || init.signal?.aborted) throw err;
    body = undefined;
  }
  if (res.ok && body !== undefined) return { ok: true, data: body as T, status: res.status };
  const retry = Number(res.headers.get("retry-after"));
  const error = (body as Partial<ApiErrorBody> | undefined)?.error;
  return {
    ok: false,
    error: {
      code: error?.code ?? (res.ok ? "internal" : `http_${res.status}`),
      message: error?.message ?? `the server answered ${res.status}`,
      ...(error?.fields ? { fields: error.fields } : {}),
      status: res.status,
      ...(Number.isFinite(retry) && retry > 0 ? { retryAfter: retry } : {}),
    },
  };
}

export function listPayments(signal?: AbortSignal): Promise<ApiResult<{ payments: Payment[] }>> {
  return request("/api/payments", { signal });
}

/**
 * createPayment sends the form once. The idempotency key is the attempt's: a
 * retry of the same attempt reuses it, so a payment is never made twice.
 */
export function createPayment(p: NewPayment, idempotencyKey: string, signal?: AbortSignal): Promise<ApiResult<Payment>> {
  return request("/api/payments", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
    body: JSON.stringify(p),
    signal,
  });
}

/**
 * watchPayments waits for the first of ids to settle. The server watches at
 * most MAX_WATCHED_IDS at once, so only the first of them are sent; the next
 * call, made once one settles, covers the rest.
 */
export function watchPayments(ids: string[], waitSeconds: number, signal?: AbortSignal): Promise<ApiResult<WatchResult>> {
  const query = new URLSearchParams({ ids: ids.slice(0, MAX_WATCHED_IDS).join(","), wait: String(waitSeconds) });
  return request(`/api/watch?${query}`, { signal });
}

export function newUser(): Promise<ApiResult<{ userId: string }>> {
  return request("/api/user", { method: "POST" });
}
