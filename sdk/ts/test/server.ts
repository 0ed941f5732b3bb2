// Test harness: builds the astro-runner binary once per test process,
// starts it on a free loopback port, and serves a target for the plans'
// steps on 127.0.0.1. Nothing here talks to any other address.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** repoRoot finds the astro-runner module root above this file (source or compiled). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const goMod = join(dir, "go.mod");
    if (existsSync(goMod) && readFileSync(goMod, "utf8").startsWith("module github.com/astro-runner/astro-runner\n")) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error("astro-runner repository root (go.mod) not found above " + fileURLToPath(import.meta.url));
    }
    dir = parent;
  }
}

let binary: Promise<string> | undefined;

/**
 * buildBinary runs `go build ./cmd/astro-runner` once per process into a
 * temporary directory (removed at exit), unless ASTRO_RUNNER_BIN names a
 * binary to use instead.
 */
export function buildBinary(): Promise<string> {
  binary ??= (async () => {
    const given = process.env.ASTRO_RUNNER_BIN;
    if (given) return given;
    const dir = mkdtempSync(join(tmpdir(), "astro-sdkts-"));
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, "astro-runner");
    try {
      await run("go", ["build", "-o", out, "./cmd/astro-runner"], { cwd: repoRoot() });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`go build ./cmd/astro-runner failed: ${e.stderr || e.message}`);
    }
    return out;
  })();
  return binary;
}

/** freePort asks the kernel for a free port on 127.0.0.1. */
async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", resolve);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** RunningServer is an astro-runner process started by startServer. */
export interface RunningServer {
  baseUrl: string;
  stop(): Promise<void>;
}

/**
 * startServer starts astro-runner on the memory backend on a free loopback
 * port, with token as ASTRO_API_TOKEN if given, and waits for /healthz.
 * Plans may call only 127.0.0.1.
 */
export async function startServer(opts: { token?: string } = {}): Promise<RunningServer> {
  const bin = await buildBinary();
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ASTRO_ADDR: `127.0.0.1:${port}`,
    STORAGE_BACKEND: "memory",
    ASTRO_LOG_LEVEL: "warn",
    ASTRO_TARGET_ALLOW: "127.0.0.1",
  };
  delete env.ASTRO_API_TOKEN;
  if (opts.token) env.ASTRO_API_TOKEN = opts.token;

  const child = spawn(bin, [], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(baseUrl, child, () => stderr);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return {
    baseUrl,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** waitHealthy polls /healthz until it answers 200, the process exits, or 60 s pass. */
async function waitHealthy(baseUrl: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`astro-runner exited with ${child.exitCode} before it was healthy:\n${stderr()}`);
    }
    try {
      const res = await fetch(`${baseUrl}/healthz`);
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`astro-runner at ${baseUrl} was not healthy within 60 s:\n${stderr()}`);
}

/** Target is an HTTP server on 127.0.0.1 that the plans' steps call. */
export interface Target {
  baseUrl: string;
  close(): Promise<void>;
}

/** startTarget serves GET /health with 200 {"status":"healthy"} and 404 for anything else. */
export async function startTarget(): Promise<Target> {
  const srv: Server = createHttpServer((req, res) => {
    if (req.method === "GET" && req.url === "/health") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ status: "healthy" }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}
