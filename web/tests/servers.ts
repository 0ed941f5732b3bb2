// Processes for the browser tests: builds astro-runner and the example
// target with `go build` into a temporary directory, and starts them on free
// 127.0.0.1 ports. Nothing here talks to any other address.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** repoRoot finds the astro-runner module root (the go.mod of the module) above this file. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const goMod = join(dir, "go.mod");
    if (existsSync(goMod) && readFileSync(goMod, "utf8").startsWith("module github.com/astro-runner/astro-runner\n")) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error("astro-runner repository root (go.mod) not found above " + dir);
    dir = parent;
  }
}

/** Binaries are the paths of the built astro-runner and example target, and their directory. */
export interface Binaries {
  astroRunner: string;
  target: string;
  /** dir is the temporary directory the binaries were built into, or "" when both were given. */
  dir: string;
}

/**
 * buildBinaries runs `go build ./cmd/astro-runner` and `go build
 * ./examples/target` into a new temporary directory (the caller removes
 * dir). ASTRO_RUNNER_BIN and ASTRO_TARGET_BIN name ready binaries to use
 * instead.
 */
export async function buildBinaries(): Promise<Binaries> {
  const givenRunner = process.env.ASTRO_RUNNER_BIN;
  const givenTarget = process.env.ASTRO_TARGET_BIN;
  const dir = givenRunner && givenTarget ? "" : mkdtempSync(join(tmpdir(), "astro-web-"));
  const build = async (pkg: string, name: string, given: string | undefined): Promise<string> => {
    if (given) return given;
    const out = join(dir, name);
    try {
      await run("go", ["build", "-o", out, pkg], { cwd: repoRoot(), maxBuffer: 16 << 20 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`go build ${pkg} failed: ${e.stderr || e.message}`);
    }
    return out;
  };
  // One after the other: the machine is small and both builds share the Go cache.
  const astroRunner = await build("./cmd/astro-runner", "astro-runner", givenRunner);
  const target = await build("./examples/target", "target", givenTarget);
  return { astroRunner, target, dir };
}

/** freePort asks the kernel for a free port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", resolve);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Process is a started child process with the base URL it serves. */
export interface Process {
  /** baseUrl is http://127.0.0.1:<port>, without a trailing slash. */
  baseUrl: string;
  /** stop sends SIGTERM, then SIGKILL after 10 s, and resolves when the process has exited. */
  stop(): Promise<void>;
  /** output is what the process wrote to stderr so far (its log). */
  output(): string;
}

/** AstroOptions configures startAstro. */
export interface AstroOptions {
  /** token, if set, is the server's ASTRO_API_TOKEN: every API call then needs it. */
  token?: string;
  /** env adds or overrides environment variables of the server (e.g. ASTRO_QUEUES). */
  env?: Record<string, string>;
}

/**
 * startAstro starts `astro-runner` (serve) on the memory backend on a free
 * loopback port, waits until /healthz answers 200, and returns it. The
 * target network policy allows 127.0.0.1 only; a random ASTRO_SECRET_KEY
 * makes the secret routes work; alerts are sent at once
 * (ASTRO_ALERT_MIN_INTERVAL=0).
 */
export async function startAstro(bin: string, opts: AstroOptions = {}): Promise<Process> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TZ: "UTC",
    ASTRO_ADDR: `127.0.0.1:${port}`,
    STORAGE_BACKEND: "memory",
    ASTRO_LOG_LEVEL: "warn",
    ASTRO_LOG_FORMAT: "text",
    ASTRO_TARGET_ALLOW: "127.0.0.1",
    ASTRO_SECRET_KEY: randomBytes(32).toString("base64"),
    ASTRO_ALERT_MIN_INTERVAL: "0",
    ASTRO_PUBLIC_URL: `http://127.0.0.1:${port}`,
    ...opts.env,
  };
  if (opts.token) env.ASTRO_API_TOKEN = opts.token;
  return startProcess(bin, [], env, `http://127.0.0.1:${port}`, "/healthz");
}

/** startTarget starts the example target (examples/target) on a free loopback port. */
export async function startTarget(bin: string): Promise<Process> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return startProcess(bin, ["-addr", `127.0.0.1:${port}`], env, `http://127.0.0.1:${port}`, "/api/v1/health");
}

async function startProcess(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  baseUrl: string,
  healthPath: string,
): Promise<Process> {
  const child = spawn(bin, args, { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    // Keep the last 64 KiB: enough to explain a failure, bounded for long runs.
    stderr = (stderr + chunk).slice(-65536);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const proc: Process = {
    baseUrl,
    output: () => stderr,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  try {
    await waitHealthy(baseUrl + healthPath, child, () => stderr);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return proc;
}

/** waitHealthy polls url until it answers 200, the process exits, or 60 s pass. */
async function waitHealthy(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${child.spawnfile} exited (${child.exitCode ?? child.signalCode}) before ${url} answered:\n${stderr()}`);
    }
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not answer 200 within 60 s:\n${stderr()}`);
}

/** randomToken returns a fresh API token for a server with auth on. */
export function randomToken(): string {
  return "web-test-" + randomBytes(16).toString("hex");
}

/** removeDir deletes a directory made by buildBinaries; "" is ignored. */
export function removeDir(dir: string): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
