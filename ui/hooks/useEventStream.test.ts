import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeEventSource } from "@/test/fakes";
import { useEventStream } from "./useEventStream";

const KEY = "0b6c6f0e-1f57-4b38-9d2b-6a0a5c1c9f10";
const record = (offset: number) => ({ topic: "payments", partition: 0, offset, key: KEY, timestamp: "2026-11-25T15:04:05Z", cloudEvent: null });

beforeEach(() => {
  FakeEventSource.install();
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("useEventStream", () => {
  it("asks again later, less and less often, when the stream is refused", () => {
    const { result } = renderHook(() => useEventStream("/api/events"));
    expect(result.current.available).toBe(false);
    act(() => FakeEventSource.latest().refuse());
    expect(FakeEventSource.instances).toHaveLength(1);

    act(() => vi.advanceTimersByTime(5_000));
    expect(FakeEventSource.instances).toHaveLength(2);
    act(() => FakeEventSource.latest().refuse());
    act(() => vi.advanceTimersByTime(5_000));
    expect(FakeEventSource.instances).toHaveLength(2); // the second wait is longer
    act(() => vi.advanceTimersByTime(5_000));
    expect(FakeEventSource.instances).toHaveLength(3);

    act(() => FakeEventSource.latest().open());
    expect(result.current.available).toBe(true);
  });

  it("collects records per payment in one render per burst, and stops on unmount", () => {
    const { result, unmount } = renderHook(() => useEventStream("/api/events"));
    const stream = FakeEventSource.latest();
    act(() => {
      stream.open();
      stream.record(record(1));
      stream.record(record(2));
      stream.record({ nonsense: true });
    });
    expect(result.current.eventsFor(KEY)).toHaveLength(0); // not flushed yet
    act(() => vi.advanceTimersByTime(100));
    expect(result.current.eventsFor(KEY).map((e) => e.offset)).toEqual([1, 2]);
    unmount();
    expect(stream.readyState).toBe(FakeEventSource.CLOSED);
  });
});
