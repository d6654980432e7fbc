// @vitest-environment node
// The System page's routes, called as Next.js calls them, against a fake gateway.
import { NextRequest } from "next/server";
import { beforeEach, describe, expect, it, vi } from "vitest";

interface Call {
  url: URL;
  method: string;
  body: string | undefined;
}

let calls: Call[];
let answer: () => Response;

beforeEach(() => {
  vi.resetModules();
  vi.stubEnv("GATEWAY_URL", "http://gw.test:8080");
  vi.stubEnv("GATEWAY_API_KEY", "");
  calls = [];
  answer = () => new Response(null, { status: 202 });
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push({ url: new URL(url), method: init.method ?? "GET", body: init.body as string | undefined });
      return answer();
    }),
  );
});

function post(path: string, body: unknown, type = "application/json") {
  return new NextRequest(`http://ui.test${path}`, {
    method: "POST",
    headers: { "content-type": type },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

describe("/api/system/scale", () => {
  it("asks the gateway to scale the function", async () => {
    const { POST } = await import("./scale/route");
    const res = await POST(post("/api/system/scale", { function: "process-payment", replicas: 3 }));
    expect(res.status).toBe(202);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.method).toBe("POST");
    expect(calls[0]!.url.pathname).toBe("/system/scale-function/process-payment");
    expect(JSON.parse(calls[0]!.body!)).toEqual({ serviceName: "process-payment", replicas: 3 });
  });

  it.each([
    [{ function: "../functions", replicas: 1 }],
    [{ function: "process-payment", replicas: -1 }],
    [{ function: "process-payment", replicas: 1.5 }],
    [{ function: "process-payment", replicas: "3" }],
    [{ function: "process-payment", replicas: 101 }],
    [[1, 2]],
  ])("refuses %j and calls nothing", async (body) => {
    const { POST } = await import("./scale/route");
    const res = await POST(post("/api/system/scale", body));
    expect(res.status).toBe(400);
    expect(calls).toHaveLength(0);
  });

  it("refuses a body that is not JSON (a plain form)", async () => {
    const { POST } = await import("./scale/route");
    const res = await POST(post("/api/system/scale", "function=x&replicas=1", "application/x-www-form-urlencoded"));
    expect(res.status).toBe(415);
    expect(calls).toHaveLength(0);
  });

  it("passes the gateway's refusal on in the API's error shape", async () => {
    answer = () => new Response("3 is above com.openfaas.scale.max", { status: 400 });
    const { POST } = await import("./scale/route");
    const res = await POST(post("/api/system/scale", { function: "process-payment", replicas: 3 }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain("com.openfaas.scale.max");
  });
});

describe("/api/system/replay", () => {
  it("replays one dead letter", async () => {
    answer = () => Response.json({ replayed: 1 });
    const { POST } = await import("./replay/route");
    const res = await POST(post("/api/system/replay", { topic: "payments.dlq", partition: 2, offset: 7 }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ replayed: 1 });
    expect(calls[0]!.url.pathname).toBe("/system/dead-letters/replay");
    expect(JSON.parse(calls[0]!.body!)).toEqual({ topic: "payments.dlq", partition: 2, offset: 7 });
  });

  it.each([
    [{ topic: "payments", partition: 0, offset: 0 }],
    [{ topic: "payments.dlq", partition: -1, offset: 0 }],
    [{ topic: "payments.dlq", partition: 0 }],
  ])("refuses %j and calls nothing", async (body) => {
    const { POST } = await import("./replay/route");
    const res = await POST(post("/api/system/replay", body));
    expect(res.status).toBe(400);
    expect(calls).toHaveLength(0);
  });
});

describe("/api/system", () => {
  it("passes the overview stream through", async () => {
    answer = () => new Response("event: overview\ndata: {}\n\n", { headers: { "content-type": "text/event-stream" } });
    const { GET } = await import("./route");
    const res = await GET(new NextRequest("http://ui.test/api/system"));
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(await res.text()).toContain("event: overview");
    expect(calls[0]!.url.pathname).toBe("/system/overview");
  });

  it("answers 404 where the gateway has no overview", async () => {
    answer = () => new Response("not found", { status: 404 });
    const { GET } = await import("./route");
    const res = await GET(new NextRequest("http://ui.test/api/system"));
    expect(res.status).toBe(404);
  });
});
