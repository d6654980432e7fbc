// The per-browser user: a random UUID in a cookie, as the original page kept
// it. It is an identity, not a credential: whoever knows it sees its payments,
// exactly as with the original API. httpOnly keeps scripts from reading it; the
// page gets it from the server.

import { isUUID } from "../types";

export const USER_COOKIE = "pp_user";
export const USER_COOKIE_MAX_AGE = 400 * 24 * 60 * 60; // the longest browsers keep a cookie

export function userCookieOptions(secure: boolean) {
  return {
    httpOnly: true,
    sameSite: "lax" as const,
    path: "/",
    maxAge: USER_COOKIE_MAX_AGE,
    secure,
  };
}

/** The user id of a request's cookie, or null when there is none or it is no UUID. */
export function userIdFrom(cookies: { get(name: string): { value: string } | undefined }): string | null {
  const value = cookies.get(USER_COOKIE)?.value;
  return isUUID(value) ? value.toLowerCase() : null;
}
