// Playwright configuration for the dashboard's browser tests (`npm run test:browser`).
// It drives Debian's Chromium at /usr/bin/chromium (never `playwright install`);
// tests/global-setup.ts builds and starts the servers; tests/harness.ts is what
// the scenarios import.
import { defineConfig } from "@playwright/test";

/** CHROMIUM_ARGS keep the browser's own background services from reaching any network. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
];

export default defineConfig({
  testDir: "./tests",
  tsconfig: "./tests/tsconfig.json",
  outputDir: "./test-results/artifacts",
  globalSetup: "./tests/global-setup.ts",
  // The machine is small and the servers are shared: one worker, tests in file order.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"], ["html", { outputFolder: "./test-results/report", open: "never" }]],
  use: {
    browserName: "chromium",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: CHROMIUM_ARGS,
    },
    viewport: { width: 1280, height: 800 },
    locale: "en-GB",
    timezoneId: "UTC",
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
  },
});
