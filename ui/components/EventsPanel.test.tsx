import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { translator, type Locale } from "@/lib/i18n";
import type { StreamEvent } from "@/lib/types";
import { payment } from "@/test/fakes";
import { EventsPanel } from "./EventsPanel";

const P = "00000000-0000-4000-8000-000000000001";

function events(n: number): StreamEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    topic: "payments",
    partition: 0,
    offset: i,
    key: P,
    timestamp: "2026-11-25T15:00:00Z",
    cloudEvent: null,
  }));
}

describe("EventsPanel", () => {
  it.each([
    ["en", 0, "0 events"],
    ["en", 1, "1 event"],
    ["en", 2, "2 events"],
    ["en", 5, "5 events"],
    ["en", 21, "21 events"],
    ["ru", 1, "1 событие"],
    ["ru", 2, "2 события"],
    ["ru", 5, "5 событий"],
    ["ru", 11, "11 событий"],
    ["ru", 21, "21 событие"],
    ["ru", 24, "24 события"],
    ["ru", 0, "0 событий"],
  ] as [Locale, number, string][])("counts events in %s: %d is %j", (locale, n, text) => {
    render(<EventsPanel payments={[payment({ paymentId: P })]} eventsFor={() => events(n)} locale={locale} t={translator(locale)} />);
    expect(screen.getByText(text)).toBeTruthy();
  });
});
