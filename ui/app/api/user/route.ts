// POST /api/user: start over as a new user, as the original page's button did.
// Only this site's page may (proxy.ts checks the Origin).

import { NextResponse, type NextRequest } from "next/server";
import { servedOverHttps } from "@/lib/server/security";
import { USER_COOKIE, userCookieOptions } from "@/lib/server/user";
import { newUUID } from "@/lib/uuid";

export const dynamic = "force-dynamic";

export function POST(request: NextRequest): Response {
  const userId = newUUID();
  const res = NextResponse.json({ userId }, { headers: { "Cache-Control": "no-store" } });
  res.cookies.set(USER_COOKIE, userId, userCookieOptions(servedOverHttps(request.nextUrl.protocol, request.headers)));
  return res;
}
