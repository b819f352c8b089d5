// @ts-check
// One self-contained server (`.next/standalone/server.js`) that the image runs with Debian's Node. Plain
// JavaScript, not next.config.ts: a TypeScript config makes the standalone output carry TypeScript itself.

/** @type {import("next").NextConfig} */
const config = {
  output: "standalone",
  poweredByHeader: false,
  reactStrictMode: true,
  productionBrowserSourceMaps: false,
  // Slides are WebP from the API; nothing is optimised (or cached on disk) by the frontend's server.
  images: { unoptimized: true },
  outputFileTracingRoot: import.meta.dirname,
  // tools/build-web.sh derives the build id from the sources, so the same sources make the same image.
  generateBuildId: async () => process.env.PAP_WEB_BUILD_ID || null,
};

export default config;
