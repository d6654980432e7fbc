import type { NextConfig } from "next";
import { NON_PAGE_CSP, SECURITY_HEADERS } from "./lib/server/security";

const config: NextConfig = {
  // The e2e test builds into its own folder so that it never overwrites the
  // build a running `make run` is serving.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  poweredByHeader: false,
  reactStrictMode: true,
  // Next.js's own files, which proxy.ts does not see; pages and the API get
  // the same headers (and a page's policy with its nonce) from proxy.ts.
  async headers() {
    const headers = Object.entries({ ...SECURITY_HEADERS, "Content-Security-Policy": NON_PAGE_CSP }).map(([key, value]) => ({
      key,
      value,
    }));
    return [{ source: "/_next/:path*", headers }];
  },
};

export default config;
