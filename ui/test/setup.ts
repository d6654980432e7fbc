import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";

// Testing Library cleans up by itself only where test globals exist; these
// tests import describe/it explicitly, so unmount here.
afterEach(() => {
  cleanup();
});
