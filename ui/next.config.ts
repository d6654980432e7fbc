import type { NextConfig } from "next";

const config: NextConfig = {
  // The e2e test builds into its own folder so that it never overwrites the
  // build a running `make run` is serving.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
