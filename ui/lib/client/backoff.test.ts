import { describe, expect, it } from "vitest";
import { isRetryable, retryDelay, sleep } from "./backoff";

const policy = { firstMs: 1_000, maxMs: 30_000 };

describe("retryDelay", () => {
  it("doubles with each failure up to the cap", () => {
    const top = () => 1; // the most jitter allows
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => retryDelay(n, policy, 0, top))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
  });

  it("jitters between half and all of the pause, so pages spread out", () => {
    expect(retryDelay(4, policy, 0, () => 0)).toBe(4_000);
    expect(retryDelay(4, policy, 0, () => 0.5)).toBe(6_000);
    expect(retryDelay(10, policy, 0, () => 0)).toBe(15_000);
    const seen = new Set(Array.from({ length: 50 }, () => retryDelay(3, policy)));
    expect(seen.size).toBeGreaterThan(1);
    for (const ms of seen) {
      expect(ms).toBeGreaterThanOrEqual(2_000);
      expect(ms).toBeLessThanOrEqual(4_000);
    }
  });

  it("waits at least the server's Retry-After, but not past the cap", () => {
    // A server saying "2 s" every time no longer makes the page ask every 2 s.
    expect([1, 2, 3, 4].map((n) => retryDelay(n, policy, 2, () => 0))).toEqual([2_000, 2_000, 2_000, 4_000]);
    expect(retryDelay(1, policy, 3_600, () => 0)).toBe(30_000);
  });
});

describe("isRetryable", () => {
  it("retries outages and lost connections, not refused requests", () => {
    expect([0, 408, 429, 500, 502, 503, 504].every(isRetryable)).toBe(true);
    expect([400, 401, 403, 404, 413].some(isRetryable)).toBe(false);
  });
});

describe("sleep", () => {
  it("ends early when aborted, also when aborted before", async () => {
    const stop = new AbortController();
    const slept = sleep(60_000, stop.signal);
    stop.abort();
    await slept;
    await sleep(60_000, stop.signal);
  });
});
