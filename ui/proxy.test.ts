// @vitest-environment node
import { NextRequest } from "next/server";
import { describe, expect, it } from "vitest";
import { proxy } from "./proxy";

describe("proxy", () => {
  it("gives a browser without a user cookie a new one", () => {
    const res = proxy(new NextRequest("http://ui.test/"));
    const cookie = res.headers.get("set-cookie") ?? "";
    const userId = /pp_user=([0-9a-f-]{36})/.exec(cookie)?.[1];
    expect(userId).toBeDefined();
    // The page rendered for this very request sees the same user: Next.js
    // replaces the request's cookie header with the one passed on.
    expect(res.headers.get("x-middleware-override-headers")).toContain("cookie");
    expect(res.headers.get("x-middleware-request-cookie")).toBe(`pp_user=${userId}`);
  });

  it("leaves a browser with a user alone", () => {
    const res = proxy(new NextRequest("http://ui.test/", { headers: { cookie: "pp_user=5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11" } }));
    expect(res.headers.get("set-cookie")).toBeNull();
  });
});
