// Stand-ins for the browser's network in component tests.

import { vi } from "vitest";
import type { Payment } from "@/lib/types";

export const USER = "5d1f7a58-3c1e-4e0c-8a57-0f6f2f1f3b11";

export function payment(over: Partial<Payment> & { paymentId: string }): Payment {
  return {
    userId: USER,
    accountNumber: "40817810099910004312",
    amount: "125.50",
    description: "Rent",
    state: "pending",
    created: "2026-11-25T15:04:05.123456Z",
    processed: null,
    extPaymentDetails: null,
    ...over,
  };
}

/** A Deferred is a promise the test settles when it wants to. */
export function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

type Handler = (url: URL, init: RequestInit) => Response | Promise<Response>;

/**
 * fakeFetch routes the page's calls to handlers by method and path; a call
 * nobody handles fails the test. A pending call ends with an AbortError when
 * the page aborts it, as in a browser.
 */
export function fakeFetch(routes: Record<string, Handler>) {
  const calls: { key: string; url: URL; init: RequestInit }[] = [];
  const fn = vi.fn((input: string, init: RequestInit = {}) => {
    const url = new URL(input, "http://ui.test");
    const key = `${init.method ?? "GET"} ${url.pathname}`;
    calls.push({ key, url, init });
    const handler = routes[key];
    if (!handler) return Promise.reject(new Error(`unexpected call ${key}`));
    return new Promise<Response>((resolve, reject) => {
      init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      Promise.resolve(handler(url, init)).then(resolve, reject);
    });
  });
  vi.stubGlobal("fetch", fn);
  return { calls, fn };
}

/** FakeEventSource lets a test open, feed and close the page's event stream. */
export class FakeEventSource extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  static instances: FakeEventSource[] = [];

  readyState = FakeEventSource.CONNECTING;
  constructor(readonly url: string) {
    super();
    FakeEventSource.instances.push(this);
  }

  open() {
    this.readyState = FakeEventSource.OPEN;
    this.dispatchEvent(new Event("open"));
  }

  record(data: unknown) {
    this.emit("record", data);
  }

  emit(type: string, data: unknown) {
    this.dispatchEvent(new MessageEvent(type, { data: JSON.stringify(data) }));
  }

  /** refuse is what a browser does on a 404 or 503: close for good and report an error. */
  refuse() {
    this.readyState = FakeEventSource.CLOSED;
    this.dispatchEvent(new Event("error"));
  }

  close() {
    this.readyState = FakeEventSource.CLOSED;
  }

  static install() {
    FakeEventSource.instances = [];
    vi.stubGlobal("EventSource", FakeEventSource);
  }

  static latest(): FakeEventSource {
    const last = FakeEventSource.instances[FakeEventSource.instances.length - 1];
    if (!last) throw new Error("no EventSource was opened");
    return last;
  }
}
