// The UI server's settings, read once from the environment. Nothing here is
// sent to the browser: only NEXT_PUBLIC_* variables are, and there are none.

import { MAX_WATCHED_IDS } from "../types";

export interface GatewayConfig {
  /** Base URL of the OpenFaaS gateway, without a trailing slash. */
  url: string;
  /** Sent as "Authorization: Bearer …" when set. */
  apiKey: string;
  /** How long a call without a long-poll may take. */
  timeoutMs: number;
  /**
   * The gateway's admin (HTTP basic auth), for its /system/ routes: the event
   * stream. OpenFaaS keeps them in the secrets basic-auth-user and
   * basic-auth-password; the local runner passes them on.
   */
  adminUser: string;
  adminPassword: string;
  /** How many /api/watch requests one visitor may have open at once. */
  watchesPerVisitor: number;
  /** How many get-payment long-polls all watches of this server may hold at once. */
  watchLongPolls: number;
}

export const DEFAULT_GATEWAY_URL = "http://127.0.0.1:8080";

export function configFromEnv(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const cfg: GatewayConfig = {
    url: (env.GATEWAY_URL || DEFAULT_GATEWAY_URL).replace(/\/+$/, ""),
    apiKey: (env.GATEWAY_API_KEY ?? "").trim(),
    timeoutMs: 15_000,
    adminUser: (env.GATEWAY_ADMIN_USER || "admin").trim(),
    adminPassword: (env.GATEWAY_ADMIN_PASSWORD ?? "").trim(),
    watchesPerVisitor: 2,
    // Half of get-payment's own limit per instance (LONG_POLL_MAX_WAITERS,
    // 2,000), so the page's watches never take all of it.
    watchLongPolls: 1_000,
  };
  if (env.GATEWAY_TIMEOUT_MS) cfg.timeoutMs = Number(env.GATEWAY_TIMEOUT_MS);
  if (env.WATCHES_PER_VISITOR) cfg.watchesPerVisitor = Number(env.WATCHES_PER_VISITOR);
  if (env.WATCH_MAX_LONG_POLLS) cfg.watchLongPolls = Number(env.WATCH_MAX_LONG_POLLS);
  validate(cfg);
  return cfg;
}

export function validate(cfg: GatewayConfig): void {
  let url: URL;
  try {
    url = new URL(cfg.url);
  } catch {
    throw new Error(`GATEWAY_URL ${JSON.stringify(cfg.url)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`GATEWAY_URL must be http or https, not ${url.protocol}`);
  }
  if (!Number.isFinite(cfg.timeoutMs) || cfg.timeoutMs <= 0) {
    throw new Error("GATEWAY_TIMEOUT_MS must be a positive number of milliseconds");
  }
  if (!Number.isInteger(cfg.watchesPerVisitor) || cfg.watchesPerVisitor <= 0) {
    throw new Error("WATCHES_PER_VISITOR must be a positive integer");
  }
  if (!Number.isInteger(cfg.watchLongPolls) || cfg.watchLongPolls < MAX_WATCHED_IDS) {
    throw new Error(`WATCH_MAX_LONG_POLLS must be an integer of at least ${MAX_WATCHED_IDS}`);
  }
}

let cached: GatewayConfig | undefined;

/** The process's configuration, read on first use. */
export function gatewayConfig(): GatewayConfig {
  cached ??= configFromEnv();
  return cached;
}
