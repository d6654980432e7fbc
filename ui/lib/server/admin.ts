// The System page's door. The page and its API scale functions and replay
// dead letters with the gateway's admin credential, so a person must present
// that same credential first: HTTP basic auth as the gateway's admin user and
// password (GATEWAY_ADMIN_USER, GATEWAY_ADMIN_PASSWORD), which the browser
// asks for once. Checked by proxy.ts before the page or a route runs.

import { createHash, timingSafeEqual } from "node:crypto";
import { NextResponse } from "next/server";
import type { GatewayConfig } from "./config";
import { errorBody } from "./gateway";

/** What the browser's login dialog names. */
export const ADMIN_REALM = "payment-pet admin";

/** isAdminPath reports whether path is the System page or its API. */
export function isAdminPath(path: string): boolean {
  return ["/system", "/api/system"].some((prefix) => path === prefix || path.startsWith(prefix + "/"));
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/**
 * adminAuthorized reports whether an Authorization header carries the admin's
 * user and password. Both are compared as equal-length digests, and both every
 * time, so the time taken says nothing about how much of a guess was right.
 */
export function adminAuthorized(authorization: string | null, admin: Pick<GatewayConfig, "adminUser" | "adminPassword">): boolean {
  if (!admin.adminPassword) return false;
  const [scheme, encoded = ""] = (authorization ?? "").trim().split(/\s+/, 2);
  const decoded = scheme?.toLowerCase() === "basic" ? Buffer.from(encoded, "base64").toString("utf8") : "";
  const colon = decoded.indexOf(":");
  const [user, password] = colon < 0 ? ["", ""] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
  const userOK = timingSafeEqual(digest(user), digest(admin.adminUser));
  const passwordOK = timingSafeEqual(digest(password), digest(admin.adminPassword));
  return colon >= 0 && userOK && passwordOK;
}

/**
 * adminRefusal is the answer to a request for the System page or its API
 * that may not go on, or null when it may: 404 when this server has no admin
 * password (the page is off: it could do nothing at the gateway anyway), 401
 * with a Basic challenge without the admin's credentials.
 */
export function adminRefusal(authorization: string | null, admin: Pick<GatewayConfig, "adminUser" | "adminPassword">): NextResponse | null {
  if (!admin.adminPassword) {
    return refusal(404, "not_found", "The System page is off: this UI server has no gateway admin password (GATEWAY_ADMIN_PASSWORD).");
  }
  if (adminAuthorized(authorization, admin)) return null;
  return refusal(401, "unauthorized", `The System page is the gateway admin's: sign in as ${admin.adminUser}.`, {
    "WWW-Authenticate": `Basic realm="${ADMIN_REALM}", charset="UTF-8"`,
  });
}

function refusal(status: number, code: string, message: string, headers: Record<string, string> = {}): NextResponse {
  return NextResponse.json(errorBody(code, message), { status, headers: { "Cache-Control": "no-store", ...headers } });
}
