import { defineConfig } from "vitest/config";

// The end-to-end test: the real stack (Go functions, Postgres, Kafka, gateway),
// the built UI under `next start`, and Debian's Chromium driven by
// playwright-core. e2e/stack.ts starts what is not given by UI_URL or
// GATEWAY_URL and stops it afterwards.
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.ts"],
    globalSetup: ["./e2e/stack.ts"],
    // Builds and a cold Go cache take minutes on two shared cores; nothing here
    // measures speed, the limits only stop a hung run.
    testTimeout: 10 * 60_000,
    hookTimeout: 5 * 60_000,
    teardownTimeout: 3 * 60_000,
    fileParallelism: false,
  },
});
