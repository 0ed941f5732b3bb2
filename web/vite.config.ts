import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * API_PATHS are the server's own routes: the dev server passes them to the
 * astro-runner server (README: it listens on :8080 by default) and serves
 * everything else, the dashboard's /ui/* routes included, itself.
 */
const API_PATHS = [
  "alert-rule",
  "channel",
  "environment",
  "execution",
  "healthz",
  "job",
  "metrics",
  "openapi",
  "overview",
  "plan",
  "queue",
  "readyz",
  "schedule",
  "schemas",
  "secret",
  "stats",
  "docs",
];

const apiTarget = process.env.ASTRO_API_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [preact()],
  resolve: {
    alias: {
      // The SDK is used from source; its one dependency resolves from web/node_modules.
      "@astro-runner/client": here("../sdk/ts/src/index.ts"),
      "openapi-fetch": here("./node_modules/openapi-fetch"),
    },
  },
  server: {
    host: "127.0.0.1",
    port: 5173,
    strictPort: true,
    proxy: {
      [`^/(${API_PATHS.join("|")})([/.?]|$)`]: { target: apiTarget, changeOrigin: false },
    },
  },
  build: {
    outDir: "../internal/webui/dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    // Every browser the dashboard targets supports modulepreload: no polyfill code.
    modulePreload: { polyfill: false },
  },
});
