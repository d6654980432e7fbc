// POST /api/system/replay {"topic": "payments.dlq", "partition": 0, "offset": 4}:
// the System page's replay button, passed to the gateway's
// /system/dead-letters/replay, which answers {"replayed": n}.

import type { NextRequest } from "next/server";
import { errorResponse, gateway, relay, unreachableResponse } from "@/lib/server/gateway";
import { readJSONObject } from "@/lib/server/request";

export const dynamic = "force-dynamic";

const DLQ_TOPIC = /^[A-Za-z0-9._-]{1,240}\.dlq$/;

function isWhole(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

export async function POST(request: NextRequest): Promise<Response> {
  const read = await readJSONObject(request, 1024);
  if ("response" in read) return read.response;
  const { topic, partition, offset } = read.body;
  if (typeof topic !== "string" || !DLQ_TOPIC.test(topic)) {
    return errorResponse(400, "invalid_request", "topic must be a dead-letter topic (<topic>.dlq)");
  }
  if (!isWhole(partition) || !isWhole(offset)) {
    return errorResponse(400, "invalid_request", "partition and offset must be whole numbers");
  }
  try {
    return await relay(
      await gateway().call("/system/dead-letters/replay", {
        admin: true,
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ topic, partition, offset }),
        signal: request.signal,
      }),
    );
  } catch (err) {
    return unreachableResponse(err);
  }
}
