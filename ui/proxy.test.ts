// @vitest-environment node
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { NextRequest } from "next/server";
import { describe, expect, it, vi } from "vitest";
import { config, proxy } from "./proxy";

const USER = "5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11";
const NEXT = "x-middleware-next";

function request(path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  return new NextRequest(`http://ui.test${path}`, {
    method: init.method ?? "GET",
    headers: { cookie: `pp_user=${USER}`, host: "ui.test", ...init.headers },
  });
}

describe("proxy: the user cookie", () => {
  it("gives a browser without a user cookie a new one", () => {
    const res = proxy(new NextRequest("http://ui.test/"));
    const cookie = res.headers.get("set-cookie") ?? "";
    const userId = /pp_user=([0-9a-f-]{36})/.exec(cookie)?.[1];
    expect(userId).toBeDefined();
    expect(cookie.toLowerCase()).toContain("httponly");
    expect(cookie.toLowerCase()).toContain("samesite=lax");
    expect(cookie.toLowerCase()).not.toContain("secure");
    // The page rendered for this very request sees the same user: Next.js
    // replaces the request's cookie header with the one passed on.
    expect(res.headers.get("x-middleware-override-headers")).toContain("cookie");
    expect(res.headers.get("x-middleware-request-cookie")).toBe(`pp_user=${userId}`);
  });

  it("marks the cookie Secure when the browser came over https, also through a TLS proxy", () => {
    for (const req of [
      new NextRequest("https://ui.test/"),
      new NextRequest("http://ui.test/", { headers: { "x-forwarded-proto": "https" } }),
    ]) {
      expect((proxy(req).headers.get("set-cookie") ?? "").toLowerCase()).toContain("secure");
    }
  });

  it("leaves a browser with a user alone, and the health check without one", () => {
    expect(proxy(request("/")).headers.get("set-cookie")).toBeNull();
    expect(proxy(new NextRequest("http://ui.test/api/health")).headers.get("set-cookie")).toBeNull();
  });
});

describe("proxy: cross-site requests", () => {
  it("refuses a state-changing request from another site, or from no page at all", async () => {
    const cases: Record<string, string>[] = [
      { origin: "https://evil.test" },
      { origin: "null" }, // a sandboxed frame or a file
      { origin: "http://ui.test.evil.test" },
      {}, // no Origin: not a browser's POST
    ];
    for (const headers of cases) {
      const res = proxy(request("/api/user", { method: "POST", headers }));
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.headers.get(NEXT)).toBeNull();
      expect(res.headers.get("set-cookie")).toBeNull();
      expect(await res.json()).toMatchObject({ error: { code: "forbidden" } });
    }
  });

  it("lets this site's page through, also behind a proxy that sets X-Forwarded-Host", () => {
    expect(proxy(request("/api/payments", { method: "POST", headers: { origin: "http://ui.test" } })).headers.get(NEXT)).toBe("1");
    const proxied = request("/api/payments", {
      method: "POST",
      headers: { origin: "https://pay.example", host: "127.0.0.1:4000", "x-forwarded-host": "pay.example" },
    });
    expect(proxy(proxied).headers.get(NEXT)).toBe("1");
  });

  it("lets reads through from anywhere: they change nothing", () => {
    expect(proxy(request("/api/payments", { headers: { origin: "https://evil.test" } })).headers.get(NEXT)).toBe("1");
  });

  it("covers every state-changing route handler there is", () => {
    const matcher = new RegExp(`^${config.matcher[0]}$`);
    const appDir = join(import.meta.dirname, "app");
    const routes = readdirSync(appDir, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith("route.ts"));
    let checked = 0;
    for (const file of routes) {
      const source = readFileSync(join(appDir, file), "utf8");
      const path = "/" + dirname(file).replaceAll("[id]", "0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10");
      for (const [, method] of source.matchAll(/export (?:async )?function (POST|PUT|PATCH|DELETE)\b/g)) {
        expect(matcher.test(path), `${path} is outside the proxy's matcher`).toBe(true);
        expect(proxy(request(path, { method: method!, headers: { origin: "https://evil.test" } })).status, `${method} ${path}`).toBe(403);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(2); // POST /api/payments and POST /api/user at least
  });
});

describe("proxy: security headers", () => {
  it("gives a page a policy with a fresh nonce that no frame may embed", () => {
    const first = proxy(request("/"));
    const csp = first.headers.get("content-security-policy") ?? "";
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("upgrade-insecure-requests"); // plain http locally
    // Next.js reads the nonce from the request's policy to put it on its scripts.
    expect(first.headers.get("x-middleware-request-content-security-policy")).toBe(csp);
    expect(proxy(request("/")).headers.get("content-security-policy")).not.toContain(nonce);
    expect(first.headers.get("referrer-policy")).toBe("no-referrer");
    expect(first.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("gives the API a policy that allows nothing at all", () => {
    for (const res of [proxy(request("/api/payments")), proxy(request("/api/user", { method: "POST" }))]) {
      expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
  });
});

describe("proxy: the System page is the gateway admin's", () => {
  const PASSWORD = "s3cret:with-colon";
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  const ADMIN_PATHS = ["/system", "/api/system", "/api/system/scale", "/api/system/replay"];

  /** The proxy of a server whose environment has env, read afresh. */
  async function proxyWith(env: Record<string, string>) {
    vi.resetModules();
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    return (await import("./proxy")).proxy;
  }

  it("asks for basic auth without credentials, or with wrong ones, and lets nothing through", async () => {
    const guarded = await proxyWith({ GATEWAY_ADMIN_PASSWORD: PASSWORD });
    const wrong = [
      undefined,
      basic("admin", "guess"),
      basic("root", PASSWORD),
      basic("admin", PASSWORD.slice(0, 4)),
      basic("admin", PASSWORD + "x"),
      `Bearer ${PASSWORD}`,
      "Basic not-base64!",
      `Basic ${Buffer.from(`admin${PASSWORD}`).toString("base64")}`, // no colon
    ];
    for (const path of ADMIN_PATHS) {
      for (const authorization of wrong) {
        const res = guarded(request(path, authorization ? { headers: { authorization } } : {}));
        expect(res.status, `${path} with ${authorization}`).toBe(401);
        expect(res.headers.get("www-authenticate")).toBe('Basic realm="payment-pet admin", charset="UTF-8"');
        expect(res.headers.get(NEXT)).toBeNull();
        expect(res.headers.get("cache-control")).toBe("no-store");
        expect(await res.json()).toMatchObject({ error: { code: "unauthorized" } });
      }
    }
  });

  it("lets the admin through, with the user the server was given", async () => {
    const guarded = await proxyWith({ GATEWAY_ADMIN_PASSWORD: PASSWORD });
    for (const path of ADMIN_PATHS) {
      expect(guarded(request(path, { headers: { authorization: basic("admin", PASSWORD) } })).headers.get(NEXT), path).toBe("1");
    }
    const renamed = await proxyWith({ GATEWAY_ADMIN_USER: "ops", GATEWAY_ADMIN_PASSWORD: PASSWORD });
    expect(renamed(request("/system", { headers: { authorization: basic("admin", PASSWORD) } })).status).toBe(401);
    expect(renamed(request("/system", { headers: { authorization: basic("ops", PASSWORD) } })).headers.get(NEXT)).toBe("1");
  });

  it("still refuses the admin's state-changing request from another site", async () => {
    const guarded = await proxyWith({ GATEWAY_ADMIN_PASSWORD: PASSWORD });
    const authorization = basic("admin", PASSWORD);
    const evil = guarded(request("/api/system/scale", { method: "POST", headers: { authorization, origin: "https://evil.test" } }));
    expect(evil.status).toBe(403);
    const own = guarded(request("/api/system/scale", { method: "POST", headers: { authorization, origin: "http://ui.test" } }));
    expect(own.headers.get(NEXT)).toBe("1");
  });

  it("is off, and says why, when the server has no admin password", async () => {
    const open = await proxyWith({ GATEWAY_ADMIN_PASSWORD: "" });
    for (const path of ADMIN_PATHS) {
      const res = open(request(path, { headers: { authorization: basic("admin", "") } }));
      expect(res.status, path).toBe(404);
      expect(res.headers.get(NEXT)).toBeNull();
      expect((await res.json()).error.message).toContain("GATEWAY_ADMIN_PASSWORD");
    }
  });

  it("guards only the System page and its API", async () => {
    const guarded = await proxyWith({ GATEWAY_ADMIN_PASSWORD: PASSWORD });
    for (const path of ["/", "/systems", "/api/systemd", "/api/payments", "/api/events", "/api/health"]) {
      expect(guarded(request(path)).headers.get(NEXT), path).toBe("1");
    }
  });
});
