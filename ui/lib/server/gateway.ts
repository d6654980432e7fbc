// Calls from the UI server to the OpenFaaS gateway, and the translation of
// their answers into answers for the browser. The browser never talks to the
// gateway: it needs no CORS, the gateway need not be public, and the API key
// stays here.

import type { ApiErrorBody } from "../types";
import { gatewayConfig, type GatewayConfig } from "./config";

/** Error codes by status, from docs/contracts.md. */
const CODES: Record<number, string> = {
  400: "invalid_request",
  401: "unauthorized",
  403: "unauthorized",
  404: "not_found",
  405: "method_not_allowed",
  409: "conflict",
  413: "too_large",
  415: "unsupported_media_type",
  422: "idempotency_key_reused",
  429: "rate_limited",
  500: "internal",
  502: "unavailable",
  503: "unavailable",
  504: "unavailable",
};

/** Headers of the gateway's answers that mean something to the browser. */
const RELAYED_HEADERS = ["retry-after", "idempotent-replayed"];

/** Seconds the browser should wait after the gateway could not be reached. */
const RETRY_AFTER_UNREACHABLE = "2";

export interface CallOptions {
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  body?: string;
  /** Ends the call early, for instance when the browser goes away. */
  signal?: AbortSignal;
  /** Overrides the configured timeout, for long-polls; 0 means none (streams). */
  timeoutMs?: number;
  /** Authenticate as the gateway's admin (basic auth), for /system/ routes, instead of with the API key. */
  admin?: boolean;
}

/** GatewayUnreachable is a call that got no HTTP answer at all. */
export class GatewayUnreachable extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "GatewayUnreachable";
  }
}

/** What a Gateway client needs of the settings; without the admin's it sends no credentials to /system/. */
export type ClientConfig = Pick<GatewayConfig, "url" | "apiKey" | "timeoutMs"> &
  Partial<Pick<GatewayConfig, "adminUser" | "adminPassword">>;

export class Gateway {
  constructor(
    private readonly cfg: ClientConfig,
    private readonly fetchFn: typeof fetch = (...args) => fetch(...args),
  ) {}

  /** call sends one request to the gateway and returns its answer as it is. */
  async call(path: string, opts: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
    if (opts.admin) {
      // The API key is no credential for the admin routes and never goes there.
      if (this.cfg.adminPassword) {
        headers.Authorization = `Basic ${Buffer.from(`${this.cfg.adminUser ?? "admin"}:${this.cfg.adminPassword}`).toString("base64")}`;
      }
    } else if (this.cfg.apiKey) {
      headers.Authorization = `Bearer ${this.cfg.apiKey}`;
    }
    const timeoutMs = opts.timeoutMs ?? this.cfg.timeoutMs;
    const signals = [opts.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    try {
      return await this.fetchFn(this.cfg.url + path, {
        method: opts.method ?? "GET",
        headers,
        body: opts.body,
        signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
        cache: "no-store",
      });
    } catch (err) {
      const timedOut = err instanceof DOMException && err.name === "TimeoutError";
      const what = timedOut ? `timed out after ${timeoutMs} ms` : describe(err);
      throw new GatewayUnreachable(`gateway ${opts.method ?? "GET"} ${path.split("?")[0]}: ${what}`, timedOut, {
        cause: err,
      });
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}

let shared: Gateway | undefined;

/** The gateway client of this process, configured from the environment. */
export function gateway(): Gateway {
  shared ??= new Gateway(gatewayConfig());
  return shared;
}

export function errorBody(code: string, message: string, fields?: Record<string, string>): ApiErrorBody {
  return { error: fields ? { code, message, fields } : { code, message } };
}

/** errorResponse answers the browser with the API's error shape. */
export function errorResponse(status: number, code: string, message: string, headers: Record<string, string> = {}) {
  return Response.json(errorBody(code, message), {
    status,
    headers: { "Cache-Control": "no-store", ...headers },
  });
}

/** unreachableResponse is the answer when the gateway gave none: try again soon. */
export function unreachableResponse(err: unknown): Response {
  const message = err instanceof Error ? err.message : String(err);
  return errorResponse(503, "unavailable", message, { "Retry-After": RETRY_AFTER_UNREACHABLE });
}

/**
 * toApiError reads an error answer of the gateway. The functions answer in the
 * API's JSON shape; the gateway itself (a function not deployed, not ready,
 * timed out) answers in plain text, which is wrapped in the same shape.
 */
export function toApiError(status: number, text: string): ApiErrorBody {
  try {
    const parsed = JSON.parse(text) as Partial<ApiErrorBody>;
    if (parsed && typeof parsed.error?.code === "string" && typeof parsed.error.message === "string") {
      return parsed as ApiErrorBody;
    }
  } catch {
    // Not JSON: the gateway's own plain-text answer.
  }
  const code = CODES[status] ?? (status >= 500 ? "internal" : "invalid_request");
  const message = text.trim().slice(0, 500) || `gateway answered ${status}`;
  return errorBody(code, message);
}

/**
 * relay turns the gateway's answer into the browser's: the same status and
 * JSON, errors always in the API's shape, and the headers that matter.
 */
export async function relay(upstream: Response): Promise<Response> {
  const text = await upstream.text();
  const headers = new Headers({ "Content-Type": "application/json", "Cache-Control": "no-store" });
  for (const name of RELAYED_HEADERS) {
    const value = upstream.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  if (upstream.ok) {
    return new Response(text, { status: upstream.status, headers });
  }
  if (upstream.status >= 500 && !headers.has("retry-after")) {
    headers.set("Retry-After", RETRY_AFTER_UNREACHABLE);
  }
  // A 502/504 from a gateway means the function did not answer: for the
  // browser that is the API's 503, try again later.
  const status = upstream.status === 502 || upstream.status === 504 ? 503 : upstream.status;
  return new Response(JSON.stringify(toApiError(upstream.status, text)), { status, headers });
}
