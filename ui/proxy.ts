// Runs before every page and /api route:
// - refuses a state-changing request (POST …) that another site's page sent
//   (403): a cross-site form must not reset a visitor's identity or pay;
// - lets only the gateway's admin into the System page and its API, which
//   scale functions and replay dead letters (HTTP basic auth, lib/server/admin.ts);
// - gives every browser its user id: a random UUID in an httpOnly, SameSite
//   cookie (Secure over https), set on the response and also on the request
//   being served, so the very first page already shows it;
// - sets the security headers, with a fresh script nonce for each page
//   (lib/server/security.ts).

import { NextResponse, type NextRequest } from "next/server";
import { adminRefusal, isAdminPath } from "@/lib/server/admin";
import { gatewayConfig } from "@/lib/server/config";
import { errorBody } from "@/lib/server/gateway";
import { NON_PAGE_CSP, SECURITY_HEADERS, isSafeMethod, pageCSP, sameOrigin, servedOverHttps } from "@/lib/server/security";
import { USER_COOKIE, userCookieOptions, userIdFrom } from "@/lib/server/user";
import { newUUID } from "@/lib/uuid";

/** Paths that are neither a page nor need a user: the runner's health check and the icons. */
const NO_USER = new Set(["/api/health", "/favicon.ico", "/icon.svg"]);

export function proxy(request: NextRequest): NextResponse {
  const path = request.nextUrl.pathname;
  const https = servedOverHttps(request.nextUrl.protocol, request.headers);
  if (!isSafeMethod(request.method) && !sameOrigin(request.headers)) {
    return secured(
      NextResponse.json(errorBody("forbidden", "cross-site request refused: send it from this site's page"), {
        status: 403,
        headers: { "Cache-Control": "no-store" },
      }),
      NON_PAGE_CSP,
    );
  }

  if (isAdminPath(path)) {
    const refused = adminRefusal(request.headers.get("authorization"), gatewayConfig());
    if (refused) return secured(refused, NON_PAGE_CSP);
  }

  let newUser: string | null = null;
  if (!NO_USER.has(path) && !userIdFrom(request.cookies)) {
    newUser = newUUID();
    request.cookies.set(USER_COOKIE, newUser); // rewrites the request's cookie header
  }
  const requestHeaders = new Headers(request.headers);
  let csp = NON_PAGE_CSP;
  if (!path.startsWith("/api/") && !NO_USER.has(path)) {
    // A page: Next.js reads the nonce from the request's policy and puts it
    // on the scripts it renders.
    const nonce = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    csp = pageCSP(nonce, { dev: process.env.NODE_ENV === "development", https });
    requestHeaders.set("Content-Security-Policy", csp);
  }
  const res = NextResponse.next({ request: { headers: requestHeaders } });
  if (newUser) res.cookies.set(USER_COOKIE, newUser, userCookieOptions(https));
  return secured(res, csp);
}

function secured(res: NextResponse, csp: string): NextResponse {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.headers.set(name, value);
  res.headers.set("Content-Security-Policy", csp);
  return res;
}

export const config = {
  // Pages and the API; not Next.js's own files (next.config.ts gives them
  // their headers).
  matcher: ["/((?!_next/).*)"],
};
