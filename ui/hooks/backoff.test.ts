// The page's retries against an API that stays down, on a fake clock: the list
// and the result polling each ask again with growing pauses, not every 2 s.

import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { fakeFetch, payment } from "@/test/fakes";
import { usePaymentList } from "./usePaymentList";
import { useSettlement } from "./useSettlement";

const P1 = "11111111-0000-4000-8000-000000000001";

/** What the UI server answers while the gateway is down. */
const down = () =>
  Response.json({ error: { code: "unavailable", message: "the gateway cannot be reached" } }, { status: 503, headers: { "Retry-After": "2" } });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  vi.spyOn(Math, "random").mockReturnValue(1); // the longest pause jitter allows
});

afterEach(() => {
  vi.useRealTimers();
});

/** callTimes advances the fake clock second by second and notes when each call was made. */
async function callTimes(calls: readonly unknown[], seconds: number): Promise<number[]> {
  const times: number[] = [];
  for (let s = 0; s <= seconds; s++) {
    await act(async () => {
      await vi.advanceTimersByTimeAsync(s === 0 ? 0 : 1_000);
    });
    while (times.length < calls.length) times.push(s);
  }
  return times;
}

describe("retrying against an API that is down", () => {
  it("loads the list with exponential pauses capped at 30 s, and says so once failed", async () => {
    const net = fakeFetch({ "GET /api/payments": down });
    const { result } = renderHook(() => usePaymentList("u1", () => {}));
    const times = await callTimes(net.calls, 130);
    // Retry-After: 2 is a floor; then 4, 8, 16 s and the cap of 30 s.
    expect(times).toEqual([0, 2, 4, 8, 16, 32, 62, 92, 122]);
    expect(result.current.state).toMatchObject({ status: "failed", retrying: true, error: { status: 503 } });
  });

  it("spreads the pauses with jitter", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0); // the shortest pause
    const net = fakeFetch({ "GET /api/payments": down });
    renderHook(() => usePaymentList("u1", () => {}));
    expect(await callTimes(net.calls, 50)).toEqual([0, 2, 4, 6, 10, 18, 33, 48]);
  });

  it("asks at once when told to, starting the pauses over", async () => {
    const net = fakeFetch({ "GET /api/payments": down });
    const { result } = renderHook(() => usePaymentList("u1", () => {}));
    await callTimes(net.calls, 20); // calls at 0, 2, 4, 8, 16
    expect(net.calls).toHaveLength(5);
    act(() => result.current.retryNow());
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(net.calls).toHaveLength(6);
    await act(async () => {
      await vi.advanceTimersByTimeAsync(2_000);
    });
    expect(net.calls).toHaveLength(7);
  });

  it("polls for results with the same backoff, reporting the trouble once", async () => {
    const net = fakeFetch({ "GET /api/watch": down });
    const onTrouble = vi.fn();
    renderHook(() => useSettlement([P1], { onNews: () => {}, onTrouble }));
    expect(await callTimes(net.calls, 70)).toEqual([0, 2, 4, 8, 16, 32, 62]);
    expect(onTrouble).toHaveBeenCalledTimes(1);
  });

  it("stops asking once the list has loaded", async () => {
    let lists = 0;
    const net = fakeFetch({
      "GET /api/payments": () => (lists++ < 2 ? down() : Response.json({ payments: [payment({ paymentId: P1 })] })),
    });
    const loaded = vi.fn();
    const { result } = renderHook(() => usePaymentList("u1", loaded));
    await callTimes(net.calls, 60);
    expect(net.calls).toHaveLength(3);
    expect(loaded).toHaveBeenCalledWith([expect.objectContaining({ paymentId: P1 })]);
    expect(result.current.state).toEqual({ status: "loaded" });
  });
});
