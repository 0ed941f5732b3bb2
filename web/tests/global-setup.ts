// Playwright global set-up: builds the binaries once, starts the example
// target and two astro-runner servers (open, and with ASTRO_API_TOKEN) for
// the whole run, and hands their addresses to the test workers through
// environment variables (read them through harness.ts, not directly).
// The function it returns is the global teardown.
import type { FullConfig } from "@playwright/test";
import { buildBinaries, randomToken, removeDir, startAstro, startTarget, type Process } from "./servers.js";

/** ENV names the variables global set-up passes to the workers. */
export const ENV = {
  baseUrl: "ASTRO_WEB_BASE_URL",
  authBaseUrl: "ASTRO_WEB_AUTH_BASE_URL",
  authToken: "ASTRO_WEB_AUTH_TOKEN",
  targetUrl: "ASTRO_WEB_TARGET_URL",
  runnerBin: "ASTRO_WEB_RUNNER_BIN",
  targetBin: "ASTRO_WEB_TARGET_BIN",
} as const;

export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  const bins = await buildBinaries();
  const started: Process[] = [];
  const teardown = async () => {
    await Promise.all(started.map((p) => p.stop()));
    removeDir(bins.dir);
  };
  try {
    const token = randomToken();
    const target = await startTarget(bins.target);
    started.push(target);
    const open = await startAstro(bins.astroRunner);
    started.push(open);
    const auth = await startAstro(bins.astroRunner, { token });
    started.push(auth);

    process.env[ENV.baseUrl] = open.baseUrl;
    process.env[ENV.authBaseUrl] = auth.baseUrl;
    process.env[ENV.authToken] = token;
    process.env[ENV.targetUrl] = target.baseUrl;
    process.env[ENV.runnerBin] = bins.astroRunner;
    process.env[ENV.targetBin] = bins.target;
  } catch (err) {
    await teardown();
    throw err;
  }
  return teardown;
}
