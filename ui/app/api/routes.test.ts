// @vitest-environment node
// The route handlers, called as Next.js calls them, against a fake gateway.
import { NextRequest } from "next/server";
import { beforeEach, describe, expect, it, vi } from "vitest";

const USER = "5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11";
const PAYMENT = "0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10";

interface Call {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

let calls: Call[];
let answer: () => Response;

beforeEach(() => {
  vi.resetModules(); // a fresh gateway client per test, configured from the stubbed environment
  vi.stubEnv("GATEWAY_URL", "http://gw.test:8080");
  vi.stubEnv("GATEWAY_API_KEY", "");
  calls = [];
  answer = () => Response.json({ payments: [] });
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push({
        url: new URL(url),
        method: init.method ?? "GET",
        headers: init.headers as Record<string, string>,
        body: init.body as string | undefined,
      });
      return answer();
    }),
  );
});

function req(path: string, init: { method?: string; headers?: Record<string, string>; body?: string; user?: string | null } = {}) {
  const headers = new Headers(init.headers);
  const user = init.user === undefined ? USER : init.user;
  if (user) headers.set("cookie", `pp_user=${user}`);
  return new NextRequest(`http://ui.test${path}`, { method: init.method ?? "GET", headers, body: init.body });
}

describe("/api/payments", () => {
  it("lists the cookie's user's payments", async () => {
    const { GET } = await import("./payments/route");
    const res = await GET(req("/api/payments?limit=500"));
    expect(res.status).toBe(200);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url.pathname).toBe("/function/get-payment");
    expect(Object.fromEntries(calls[0]!.url.searchParams)).toEqual({ userId: USER, limit: "100" });
  });

  it("refuses a request without the user cookie", async () => {
    const { GET } = await import("./payments/route");
    const res = await GET(req("/api/payments", { user: "not-a-uuid" }));
    expect(res.status).toBe(400);
    expect(calls).toHaveLength(0);
  });

  it("creates the payment for the cookie's user, whatever the body claims, with the idempotency key and the API key", async () => {
    vi.stubEnv("GATEWAY_API_KEY", "s3cret");
    answer = () => Response.json({ paymentId: PAYMENT, state: "pending" }, { status: 201 });
    const { POST } = await import("./payments/route");
    const res = await POST(
      req("/api/payments", {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "attempt-1" },
        body: JSON.stringify({ userId: "someone-else", accountNumber: "4081", amount: "1.50", description: "Rent", extra: 1 }),
      }),
    );
    expect(res.status).toBe(201);
    expect(calls[0]!.url.href).toBe("http://gw.test:8080/function/create-payment");
    expect(calls[0]!.method).toBe("POST");
    expect(JSON.parse(calls[0]!.body!)).toEqual({ userId: USER, accountNumber: "4081", amount: "1.50", description: "Rent" });
    expect(calls[0]!.headers).toMatchObject({ "Idempotency-Key": "attempt-1", Authorization: "Bearer s3cret" });
  });

  it("passes the API's field errors through", async () => {
    const body = { error: { code: "invalid_request", message: "amount: must not exceed 1000000.00", fields: { amount: "must not exceed 1000000.00" } } };
    answer = () => Response.json(body, { status: 400 });
    const { POST } = await import("./payments/route");
    const res = await POST(
      req("/api/payments", { method: "POST", headers: { "content-type": "application/json" }, body: '{"accountNumber":"1","amount":"2000000"}' }),
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(body);
  });

  it("accepts only a JSON object", async () => {
    const { POST } = await import("./payments/route");
    const form = await POST(req("/api/payments", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "a=1" }));
    expect(form.status).toBe(415);
    const array = await POST(req("/api/payments", { method: "POST", headers: { "content-type": "application/json" }, body: "[1]" }));
    expect(array.status).toBe(400);
    const huge = await POST(
      req("/api/payments", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ description: "x".repeat(20_000) }) }),
    );
    expect(huge.status).toBe(413);
    expect(calls).toHaveLength(0);
  });

  it("answers 503 with Retry-After when the gateway cannot be reached", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => {
        throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
      }),
    );
    const { GET } = await import("./payments/route");
    const res = await GET(req("/api/payments"));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect((await res.json()).error.code).toBe("unavailable");
  });
});

describe("/api/payments/[id]", () => {
  it("long-polls get-payment with the wait, capped at the API's 30 s", async () => {
    answer = () => Response.json({ paymentId: PAYMENT, state: "completed" });
    const { GET } = await import("./payments/[id]/route");
    const res = await GET(req(`/api/payments/${PAYMENT}?wait=99`), { params: Promise.resolve({ id: PAYMENT }) });
    expect(res.status).toBe(200);
    expect(Object.fromEntries(calls[0]!.url.searchParams)).toEqual({ id: PAYMENT, userId: USER, wait: "30" });
  });

  it("answers 404 for an id that is no UUID without asking the gateway", async () => {
    const { GET } = await import("./payments/[id]/route");
    const res = await GET(req("/api/payments/nope"), { params: Promise.resolve({ id: "nope" }) });
    expect(res.status).toBe(404);
    expect(calls).toHaveLength(0);
  });
});

/** n distinct payment ids. */
function ids(n: number, prefix = "0"): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}b6c6f0e-1f57-4b38-9d2b-${String(i).padStart(12, "0")}`);
}

/** A gateway whose long-polls hang until the test releases them (or the caller leaves). */
function hangingGateway() {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push({ url: new URL(url), method: "GET", headers: init.headers as Record<string, string>, body: undefined });
      await Promise.race([released, new Promise((_, reject) => init.signal?.addEventListener("abort", () => reject(init.signal!.reason)))]);
      return Response.json({ paymentId: new URL(url).searchParams.get("id"), state: "pending" });
    }),
  );
  return release;
}

describe("/api/watch", () => {
  it("checks the ids, at most ten of them", async () => {
    const { GET } = await import("./watch/route");
    expect((await GET(req("/api/watch?ids="))).status).toBe(400);
    expect((await GET(req("/api/watch?ids=1,2"))).status).toBe(400);
    expect((await GET(req(`/api/watch?ids=${ids(11).join(",")}`))).status).toBe(400);
    expect(calls).toHaveLength(0);
  });

  it("lets one visitor keep only two watches open; others still get theirs", async () => {
    const release = hangingGateway();
    const { GET } = await import("./watch/route");
    const open = [GET(req(`/api/watch?ids=${ids(10).join(",")}`)), GET(req(`/api/watch?ids=${ids(10, "1").join(",")}`))];
    const third = await GET(req(`/api/watch?ids=${PAYMENT}`));
    expect(third.status).toBe(429);
    expect(third.headers.get("retry-after")).toBe("5");
    expect(await third.json()).toMatchObject({ error: { code: "rate_limited" } });
    expect(calls).toHaveLength(20); // the refused watch asked the gateway nothing

    const other = GET(req(`/api/watch?ids=${PAYMENT}`, { user: "6d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11" }));
    release();
    expect((await other).status).toBe(200);
    for (const res of await Promise.all(open)) expect(res.status).toBe(200);
    // The places are given back once the watches answer.
    expect((await GET(req(`/api/watch?ids=${PAYMENT}`))).status).toBe(200);
  });

  it("gives the place back when the browser leaves", async () => {
    hangingGateway();
    const { GET } = await import("./watch/route");
    for (let i = 0; i < 3; i++) {
      const leave = new AbortController();
      const watch = GET(new NextRequest(`http://ui.test/api/watch?ids=${PAYMENT}`, { headers: { cookie: `pp_user=${USER}` }, signal: leave.signal }));
      leave.abort();
      await watch;
    }
    const { watchLimiter } = await import("@/lib/server/limits");
    expect(watchLimiter().held).toBe(0);
  });

  it("holds at most WATCH_MAX_LONG_POLLS long-polls for all visitors together", async () => {
    vi.stubEnv("WATCH_MAX_LONG_POLLS", "15");
    const release = hangingGateway();
    const { GET } = await import("./watch/route");
    const first = GET(req(`/api/watch?ids=${ids(10).join(",")}`));
    const full = await GET(req(`/api/watch?ids=${ids(6, "1").join(",")}`, { user: "6d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11" }));
    expect(full.status).toBe(503);
    expect(full.headers.get("retry-after")).toBe("5");
    const fits = GET(req(`/api/watch?ids=${ids(5, "1").join(",")}`, { user: "6d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11" }));
    release();
    expect((await first).status).toBe(200);
    expect((await fits).status).toBe(200);
  });

  it("returns the settled payment", async () => {
    answer = () => Response.json({ paymentId: PAYMENT, state: "rejected" });
    const { GET } = await import("./watch/route");
    const res = await GET(req(`/api/watch?ids=${PAYMENT}&wait=25`));
    expect(await res.json()).toEqual({ payments: [{ paymentId: PAYMENT, state: "rejected" }], missing: [] });
    expect(calls[0]!.url.searchParams.get("wait")).toBe("25");
  });
});

describe("/api/events", () => {
  const OTHER = "6d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11";
  const record = (id: string, user: string | null) =>
    `id: ${id}\nevent: record\ndata: ${JSON.stringify({ key: id, ...(user ? { userId: user } : {}) })}\n\n`;

  it("streams the user's events from the gateway's stream, as its admin", async () => {
    vi.stubEnv("GATEWAY_API_KEY", "api-key");
    vi.stubEnv("GATEWAY_ADMIN_PASSWORD", "admin-secret");
    answer = () =>
      new Response(`retry: 2000\n: connected\n\n${record("mine-1", USER)}`, { headers: { "Content-Type": "text/event-stream" } });
    const { GET } = await import("./events/route");
    const res = await GET(req("/api/events", { headers: { "last-event-id": "e-5" } }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("cache-control")).toContain("no-transform");
    expect(await res.text()).toBe(`retry: 2000\n: connected\n\n${record("mine-1", USER)}`);
    expect(calls[0]!.url.pathname).toBe("/system/events");
    expect(calls[0]!.url.searchParams.get("userId")).toBe(USER);
    expect(calls[0]!.headers["Last-Event-ID"]).toBe("e-5");
    // Basic auth as the gateway's admin, not the API key.
    expect(calls[0]!.headers.Authorization).toBe(`Basic ${btoa("admin:admin-secret")}`);
  });

  it("shows a visitor no one else's events, whatever the gateway sends", async () => {
    // Split at awkward places, as a network does.
    const stream = [record("mine-1", USER), record("theirs-1", OTHER), ": ping\n\n", record("nobody-1", null), "data: not json\n\n", record("mine-2", USER.toUpperCase())].join("");
    const chunks = [stream.slice(0, 17), stream.slice(17, 90), stream.slice(90, 91), stream.slice(91)];
    answer = () =>
      new Response(new ReadableStream({ start(c) { for (const chunk of chunks) c.enqueue(new TextEncoder().encode(chunk)); c.close(); } }), {
        headers: { "Content-Type": "text/event-stream" },
      });
    const { GET } = await import("./events/route");
    const text = await (await GET(req("/api/events"))).text();
    expect(text).toBe(`${record("mine-1", USER)}: ping\n\n${record("mine-2", USER.toUpperCase())}`);
  });

  it("needs the user cookie", async () => {
    const { GET } = await import("./events/route");
    expect((await GET(req("/api/events", { user: null }))).status).toBe(400);
    expect(calls).toHaveLength(0);
  });

  it("answers 404 where the gateway has no stream, as a real OpenFaaS gateway", async () => {
    answer = () => new Response("404 page not found", { status: 404 });
    const { GET } = await import("./events/route");
    const res = await GET(req("/api/events"));
    expect(res.status).toBe(404);
  });
});

describe("/api/health", () => {
  it("answers without asking the gateway", async () => {
    const { GET } = await import("./health/route");
    expect(GET().status).toBe(200);
    expect(calls).toHaveLength(0);
  });
});

describe("/api/user", () => {
  it("sets a new user cookie that scripts cannot read", async () => {
    const { POST } = await import("./user/route");
    const res = POST(req("/api/user", { method: "POST" }));
    const { userId } = (await res.json()) as { userId: string };
    expect(userId).toMatch(/^[0-9a-f-]{36}$/);
    expect(userId).not.toBe(USER);
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toContain(`pp_user=${userId}`);
    expect(cookie.toLowerCase()).toContain("httponly");
    expect(cookie.toLowerCase()).toContain("samesite=lax");
    expect(cookie.toLowerCase()).not.toContain("secure");
    const behindTLS = POST(req("/api/user", { method: "POST", headers: { "x-forwarded-proto": "https" } }));
    expect((behindTLS.headers.get("set-cookie") ?? "").toLowerCase()).toContain("secure");
  });
});
