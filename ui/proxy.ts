// Gives every browser its user id before the page or an API route runs: a
// random UUID in an httpOnly cookie, set on the response and also on the
// request being served, so the very first page already shows it.

import { NextResponse, type NextRequest } from "next/server";
import { USER_COOKIE, userCookieOptions, userIdFrom } from "@/lib/server/user";
import { newUUID } from "@/lib/uuid";

export function proxy(request: NextRequest): NextResponse {
  if (userIdFrom(request.cookies)) return NextResponse.next();
  const userId = newUUID();
  request.cookies.set(USER_COOKIE, userId);
  const res = NextResponse.next({ request: { headers: request.headers } });
  res.cookies.set(USER_COOKIE, userId, userCookieOptions(request.nextUrl.protocol === "https:"));
  return res;
}

export const config = {
  // Pages and the API; not Next.js's own assets, nor the health check.
  matcher: ["/((?!_next/|favicon.ico|icon.svg|api/health).*)"],
};
