// The UI server's settings, read once from the environment. Nothing here is
// sent to the browser: only NEXT_PUBLIC_* variables are, and there are none.

export interface GatewayConfig {
  /** Base URL of the OpenFaaS gateway, without a trailing slash. */
  url: string;
  /** Sent as "Authorization: Bearer …" when set. */
  apiKey: string;
  /** How long a call without a long-poll may take. */
  timeoutMs: number;
}

export const DEFAULT_GATEWAY_URL = "http://127.0.0.1:8080";

export function configFromEnv(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const cfg: GatewayConfig = {
    url: (env.GATEWAY_URL || DEFAULT_GATEWAY_URL).replace(/\/+$/, ""),
    apiKey: (env.GATEWAY_API_KEY ?? "").trim(),
    timeoutMs: 15_000,
  };
  if (env.GATEWAY_TIMEOUT_MS) cfg.timeoutMs = Number(env.GATEWAY_TIMEOUT_MS);
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
}

let cached: GatewayConfig | undefined;

/** The process's configuration, read on first use. */
export function gatewayConfig(): GatewayConfig {
  cached ??= configFromEnv();
  return cached;
}
