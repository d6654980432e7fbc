// POST /api/system/scale {"function": "process-payment", "replicas": 3}: the
// System page's scale control, passed to the gateway's
// /system/scale-function/<name>, which answers 202 (or 400 past the
// function's com.openfaas.scale.max).

import type { NextRequest } from "next/server";
import { errorResponse, gateway, relay, unreachableResponse } from "@/lib/server/gateway";
import { readJSONObject } from "@/lib/server/request";

export const dynamic = "force-dynamic";

const FUNCTION_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const MAX_REPLICAS = 100;

export async function POST(request: NextRequest): Promise<Response> {
  const read = await readJSONObject(request, 1024);
  if ("response" in read) return read.response;
  const { function: name, replicas } = read.body;
  if (typeof name !== "string" || !FUNCTION_NAME.test(name)) {
    return errorResponse(400, "invalid_request", "function must be a function's name");
  }
  if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) {
    return errorResponse(400, "invalid_request", `replicas must be a whole number from 0 to ${MAX_REPLICAS}`);
  }
  try {
    return await relay(
      await gateway().call(`/system/scale-function/${name}`, {
        admin: true,
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ serviceName: name, replicas }),
        signal: request.signal,
      }),
    );
  } catch (err) {
    return unreachableResponse(err);
  }
}
