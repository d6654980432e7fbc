// POST /api/user: start over as a new user, as the original page's button did.

import { NextResponse, type NextRequest } from "next/server";
import { USER_COOKIE, userCookieOptions } from "@/lib/server/user";
import { newUUID } from "@/lib/uuid";

export const dynamic = "force-dynamic";

export function POST(request: NextRequest): Response {
  const userId = newUUID();
  const res = NextResponse.json({ userId }, { headers: { "Cache-Control": "no-store" } });
  res.cookies.set(USER_COOKIE, userId, userCookieOptions(request.nextUrl.protocol === "https:"));
  return res;
}
