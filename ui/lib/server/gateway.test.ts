// @vitest-environment node
import { describe, expect, it, vi } from "vitest";
import { configFromEnv } from "./config";
import { Gateway, GatewayUnreachable, relay, toApiError } from "./gateway";

function capture(answer: Response | (() => Promise<Response>)) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fetchFn = vi.fn(async (url: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    return typeof answer === "function" ? answer() : answer.clone();
  }) as unknown as typeof fetch;
  return { calls, fetchFn };
}

describe("configFromEnv", () => {
  it("defaults to the local gateway and validates the URL", () => {
    expect(configFromEnv({})).toMatchObject({ url: "http://127.0.0.1:8080", apiKey: "" });
    expect(configFromEnv({ GATEWAY_URL: "http://gw:8080/", GATEWAY_API_KEY: " k " })).toMatchObject({
      url: "http://gw:8080",
      apiKey: "k",
    });
    expect(() => configFromEnv({ GATEWAY_URL: "gateway:8080" })).toThrow(/GATEWAY_URL/);
    expect(() => configFromEnv({ GATEWAY_TIMEOUT_MS: "soon" })).toThrow(/GATEWAY_TIMEOUT_MS/);
  });

  it("reads the gateway's admin and the watch limits", () => {
    expect(configFromEnv({})).toMatchObject({ adminUser: "admin", adminPassword: "", watchesPerVisitor: 2, watchLongPolls: 1000 });
    expect(configFromEnv({ GATEWAY_ADMIN_PASSWORD: " pw ", WATCHES_PER_VISITOR: "3", WATCH_MAX_LONG_POLLS: "50" })).toMatchObject({
      adminPassword: "pw",
      watchesPerVisitor: 3,
      watchLongPolls: 50,
    });
    expect(() => configFromEnv({ WATCHES_PER_VISITOR: "0" })).toThrow(/WATCHES_PER_VISITOR/);
    // Fewer long-polls than one watch may hold would refuse every full watch.
    expect(() => configFromEnv({ WATCH_MAX_LONG_POLLS: "9" })).toThrow(/WATCH_MAX_LONG_POLLS/);
  });
});

describe("Gateway.call", () => {
  it("sends the API key as a bearer token only when one is set", async () => {
    const withKey = capture(new Response("{}"));
    await new Gateway({ url: "http://gw", apiKey: "secret", timeoutMs: 1000 }, withKey.fetchFn).call("/function/x");
    expect(withKey.calls[0]!.url).toBe("http://gw/function/x");
    expect((withKey.calls[0]!.init.headers as Record<string, string>).Authorization).toBe("Bearer secret");

    const without = capture(new Response("{}"));
    await new Gateway({ url: "http://gw", apiKey: "", timeoutMs: 1000 }, without.fetchFn).call("/function/x");
    expect(without.calls[0]!.init.headers).not.toHaveProperty("Authorization");
  });

  it("authenticates admin calls with basic auth, and sends nothing without the admin's password", async () => {
    const admin = capture(new Response(""));
    const cfg = { url: "http://gw", apiKey: "api", timeoutMs: 1000, adminUser: "admin", adminPassword: "pw" };
    await new Gateway(cfg, admin.fetchFn).call("/system/events", { admin: true });
    expect((admin.calls[0]!.init.headers as Record<string, string>).Authorization).toBe(`Basic ${btoa("admin:pw")}`);
    const none = capture(new Response(""));
    await new Gateway({ ...cfg, adminPassword: "" }, none.fetchFn).call("/system/events", { admin: true });
    expect(none.calls[0]!.init.headers).not.toHaveProperty("Authorization"); // never the API key to /system/
  });

  it("turns a call with no answer into GatewayUnreachable", async () => {
    const refused = vi.fn(async () => {
      throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
    }) as unknown as typeof fetch;
    const err = await new Gateway({ url: "http://gw", apiKey: "", timeoutMs: 1000 }, refused)
      .call("/function/get-payment?userId=u")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayUnreachable);
    expect((err as Error).message).toBe("gateway GET /function/get-payment: ECONNREFUSED");
    expect((err as GatewayUnreachable).timedOut).toBe(false);
  });

  it("gives up after the timeout", async () => {
    const hang = vi.fn(
      (_url: string, init: RequestInit) =>
        new Promise<Response>((_resolve, reject) => init.signal!.addEventListener("abort", () => reject(init.signal!.reason))),
    ) as unknown as typeof fetch;
    const err = await new Gateway({ url: "http://gw", apiKey: "", timeoutMs: 20 }, hang).call("/x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayUnreachable);
    expect((err as GatewayUnreachable).timedOut).toBe(true);
  });
});

describe("relay", () => {
  it("passes a success and the headers the browser needs", async () => {
    const res = await relay(
      new Response('{"paymentId":"p"}', { status: 201, headers: { "Idempotent-Replayed": "true", "X-Other": "1" } }),
    );
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ paymentId: "p" });
    expect(res.headers.get("idempotent-replayed")).toBe("true");
    expect(res.headers.get("x-other")).toBeNull();
  });

  it("keeps the API's error with its fields", async () => {
    const body = { error: { code: "invalid_request", message: "amount: too big", fields: { amount: "too big" } } };
    const res = await relay(new Response(JSON.stringify(body), { status: 400 }));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(body);
  });

  it("wraps the gateway's plain-text errors and makes a 502 a retryable 503", async () => {
    const res = await relay(new Response("function not ready", { status: 502 }));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(await res.json()).toEqual({ error: { code: "unavailable", message: "function not ready" } });
    expect(toApiError(404, "")).toEqual({ error: { code: "not_found", message: "gateway answered 404" } });
  });
});
