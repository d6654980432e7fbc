import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Component and unit tests in jsdom. The end-to-end test has its own config
// (vitest.e2e.config.ts): it needs the whole stack and a browser.
export default defineConfig({
  resolve: {
    alias: { "@": fileURLToPath(new URL(".", import.meta.url)) },
  },
  oxc: {
    jsx: { runtime: "automatic" },
  },
  test: {
    environment: "jsdom",
    include: ["**/*.test.{ts,tsx}"],
    exclude: ["node_modules/**", ".next/**", ".next-e2e/**", "e2e/**"],
    setupFiles: ["./test/setup.ts"],
    css: { modules: { classNameStrategy: "non-scoped" } },
    restoreMocks: true,
    unstubGlobals: true,
    unstubEnvs: true,
  },
});
