// How long the page waits before asking again after a failed call. Every
// open page retries on its own, so after an outage they must not all come
// back at once, nor hammer a server that is struggling: the pause doubles with
// each failure up to a cap, and is jittered so that pages spread out.

export interface BackoffPolicy {
  /** The pause after the first failure, before jitter. */
  firstMs: number;
  /** The longest pause. */
  maxMs: number;
}

/**
 * retryDelay is the pause after the given number of failures in a row (1 for
 * the first): a random time between half and all of firstMs·2^(failures−1),
 * capped at maxMs ("equal jitter": spread out, yet never close to zero). A
 * Retry-After from the server is a floor, up to the cap.
 */
export function retryDelay(
  failures: number,
  policy: BackoffPolicy,
  retryAfterSeconds = 0,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.firstMs * 2 ** Math.max(0, failures - 1));
  const jittered = ceiling / 2 + (random() * ceiling) / 2;
  return Math.round(Math.min(policy.maxMs, Math.max(jittered, retryAfterSeconds * 1000)));
}

/**
 * isRetryable tells whether asking again may help: not when the request itself
 * was refused (4xx), except for a timeout or too many requests.
 */
export function isRetryable(status: number): boolean {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

/** sleep waits ms, or less when signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
