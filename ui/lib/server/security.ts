// The browser-facing protections of every answer: who may send a
// state-changing request, and the headers that keep the page out of frames,
// scripts out of the page and the address out of other sites' logs.
//
// Used by proxy.ts, which runs before every page and /api route, and by
// next.config.ts for the static files.

/** Methods that change nothing, which any page may send (and links and images do). */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Headers for every answer; the Content-Security-Policy is set per kind of answer. */
export const SECURITY_HEADERS: Record<string, string> = {
  // Other sites learn nothing of the page's address, ids included.
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
};

/**
 * The policy of everything that is not a page (JSON, event streams, files):
 * nothing may run or load in it, and nobody may frame it.
 */
export const NON_PAGE_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * pageCSP is the policy of a page: its own scripts only, those Next.js
 * renders carrying the request's nonce; no plugins, no frames of it anywhere,
 * forms and connections to this origin only. Development adds what the dev
 * server's error overlay and style injection need.
 */
export function pageCSP(nonce: string, opts: { dev: boolean; https: boolean }): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${opts.dev ? " 'unsafe-eval'" : ""}`,
    opts.dev ? "style-src 'self' 'unsafe-inline'" : `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    ...(opts.https ? ["upgrade-insecure-requests"] : []),
  ].join("; ");
}

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/**
 * sameOrigin reports whether a request comes from a page of this site: its
 * Origin names the host the request was sent to (the Host, or X-Forwarded-Host
 * behind a proxy). A request without Origin is refused: every browser sends it
 * with a POST, so only a non-browser client lacks it, and this API is the
 * page's. A cross-site page cannot forge either header: Origin is the
 * browser's, and X-Forwarded-Host would need a CORS preflight nobody answers.
 */
export function sameOrigin(headers: Headers): boolean {
  const origin = headers.get("origin");
  if (!origin || origin === "null") return false;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  const target = (headers.get("x-forwarded-host") ?? headers.get("host") ?? "").split(",")[0]!.trim();
  return target !== "" && host.toLowerCase() === target.toLowerCase();
}

/** servedOverHttps reports whether the browser reached us over https, directly or through a TLS-terminating proxy. */
export function servedOverHttps(protocol: string, headers: Headers): boolean {
  const forwarded = headers.get("x-forwarded-proto")?.split(",")[0]!.trim().toLowerCase();
  return protocol === "https:" || forwarded === "https";
}
