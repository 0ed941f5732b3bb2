/**
 * The browser-test harness for the dashboard. Scenarios import `test` and
 * `expect` from here instead of from "@playwright/test".
 *
 * What runs (tests/global-setup.ts, once per `npm run test:browser`):
 * `go build` of ./cmd/astro-runner and ./examples/target into a temporary
 * directory, then, on free 127.0.0.1 ports: the example target, an open
 * astro-runner and one with ASTRO_API_TOKEN set. Both servers use the
 * memory backend, allow plans to call 127.0.0.1 only, have a random
 * ASTRO_SECRET_KEY (secrets work) and ASTRO_ALERT_MIN_INTERVAL=0. They are
 * shared by every test of the run, so create what a test needs with
 * uniqueName() and never assume the server is empty; a test that needs an
 * empty or specially configured server starts its own with `startAstro`.
 *
 * Fixtures (all typed below):
 * - `astro`     { baseUrl, client }: the shared open server; `client` is the
 *               TypeScript SDK (createAstroClient) pointed at it.
 * - `authAstro` { baseUrl, token, client }: the shared server with auth on;
 *               `client` sends the token. Pages get no token unless the
 *               test types it or calls `withToken(context, token)`.
 * - `target`    { baseUrl }: the example target (GET /api/v1/health,
 *               POST /api/v1/users, GET /api/v1/users/{id}).
 * - `baseURL`   is astro.baseUrl, so `page.goto("/ui/queue")` opens the
 *               dashboard of the shared open server.
 * - `startAstro(opts?)` starts a private server (same settings; opts.token,
 *               opts.env such as { ASTRO_QUEUES: "default" }) and stops it
 *               when the test ends. Returns { baseUrl, token?, client }.
 *               For one server shared by a whole file, call
 *               `startAstroServer(opts)` in beforeAll and `stop()` it in
 *               afterAll (pages.spec.ts does).
 * - `pageProblems` { csp, errors }: every page of the test's context is
 *               watched for Content-Security-Policy violations (the
 *               `securitypolicyviolation` event and Chromium's console
 *               message) and uncaught page errors. The test fails at its
 *               end if either list is not empty; a test that provokes one on
 *               purpose reads the list and empties it
 *               (`pageProblems.csp.length = 0`).
 *
 * Helpers (plain functions):
 * - `checkA11y(page, { ready?, label? })` runs axe-core on the page's
 *   current URL and fails on any serious or critical violation. The
 *   dashboard's CSP allows only 'self' scripts, so axe cannot be added to
 *   the page itself: the URL is opened again in a second context with
 *   Playwright's `bypassCSP: true`, carrying over the page's
 *   sessionStorage (the token), and axe.min.js from node_modules is added
 *   with page.addScriptTag({ content }). `ready(p)` waits until the page
 *   shows what it should (default: network idle); state held only in the
 *   page (an open dialog) is not carried over, so do that in `ready`.
 *   The full axe result is attached to the test as axe-<label>.json.
 * - `screenshot(page, name)` writes web/test-results/screenshots/<name>.png
 *   (full page, animations stopped); `npm run screenshots` copies
 *   overview.png and execution.png to web/screenshots/.
 * - `withToken(context, token)` puts the token in sessionStorage (key
 *   TOKEN_KEY, "astro-runner-token") before any page script runs.
 * - SDK helpers: `uniqueName(prefix)`, `planBody(targetUrl, opts)` (the
 *   examples/plan.json steps against the target; `failing: true` makes the
 *   health step expect "sick", so it fails with expected and actual
 *   values), `createPlan(client, body)`, `runPlan(client, planId)` (waits
 *   until final), `enqueueExecutions(client, planId, n, { queue })` (n
 *   executions, 8 requests at a time; a queue no worker serves keeps them
 *   queued), `clientFor(baseUrl, token?)`.
 */
import { test as base, expect, type BrowserContext, type Page } from "@playwright/test";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createAstroClient,
  unwrap,
  type AstroClient,
  type Execution,
  type Plan,
  type PlanBody,
} from "@astro-runner/client";
import { ENV } from "./global-setup.js";
import { randomToken, startAstro as startAstroProcess, type AstroOptions, type Process } from "./servers.js";

export { expect };
export type { AstroClient, Execution, Plan, PlanBody };

/** TOKEN_KEY is the sessionStorage key the dashboard keeps the API token under. */
export const TOKEN_KEY = "astro-runner-token";

/** WEB_DIR is the web/ directory. */
export const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");

/** SCREENSHOT_DIR is where screenshot() writes: web/test-results/screenshots. */
export const SCREENSHOT_DIR = join(WEB_DIR, "test-results", "screenshots");

/** Astro is a running astro-runner server and an SDK client for it. */
export interface Astro {
  /** baseUrl is http://127.0.0.1:<port>, without a trailing slash. */
  baseUrl: string;
  /** token is the server's ASTRO_API_TOKEN, if auth is on. */
  token?: string;
  /** client is the TypeScript SDK's client; it sends token when there is one. */
  client: AstroClient;
}

/** Target is the example target the plans call. */
export interface Target {
  baseUrl: string;
}

/** PageProblems collects what the pages of a test did wrong; the test fails if it is not empty at its end. */
export interface PageProblems {
  /** csp lists Content-Security-Policy violations: "<directive> blocked <uri>", or Chromium's console text. */
  csp: string[];
  /** errors lists uncaught exceptions thrown in the pages. */
  errors: string[];
}

interface TestFixtures {
  startAstro: (opts?: AstroOptions) => Promise<OwnAstro>;
  pageProblems: PageProblems;
}

interface WorkerFixtures {
  astro: Astro;
  authAstro: Astro & { token: string };
  target: Target;
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the browser tests with \`npm run test:browser\` (playwright.config.ts runs tests/global-setup.ts)`);
  }
  return value;
}

/** clientFor returns an SDK client for the server at baseUrl, sending token if given. */
export function clientFor(baseUrl: string, token?: string): AstroClient {
  return createAstroClient({ baseUrl, token });
}

/** OwnAstro is a server started by startAstroServer, which its starter stops. */
export interface OwnAstro extends Astro {
  /** stop ends the server (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/**
 * startAstroServer starts a private astro-runner with the shared servers'
 * settings (opts adds a token or environment variables). The caller stops
 * it: use it in beforeAll/afterAll for a server that a whole file shares;
 * a single test uses the startAstro fixture instead.
 */
export async function startAstroServer(opts: AstroOptions = {}): Promise<OwnAstro> {
  const proc: Process = await startAstroProcess(env(ENV.runnerBin), opts);
  return { baseUrl: proc.baseUrl, token: opts.token, client: clientFor(proc.baseUrl, opts.token), stop: () => proc.stop() };
}

/** test is Playwright's test with the harness fixtures. */
export const test = base.extend<TestFixtures, WorkerFixtures>({
  astro: [
    async ({}, use) => {
      const baseUrl = env(ENV.baseUrl);
      await use({ baseUrl, client: clientFor(baseUrl) });
    },
    { scope: "worker" },
  ],
  authAstro: [
    async ({}, use) => {
      const baseUrl = env(ENV.authBaseUrl);
      const token = env(ENV.authToken);
      await use({ baseUrl, token, client: clientFor(baseUrl, token) });
    },
    { scope: "worker" },
  ],
  target: [
    async ({}, use) => {
      await use({ baseUrl: env(ENV.targetUrl) });
    },
    { scope: "worker" },
  ],
  baseURL: async ({ astro }, use) => {
    await use(astro.baseUrl);
  },
  startAstro: async ({}, use) => {
    const started: OwnAstro[] = [];
    await use(async (opts = {}) => {
      const own = await startAstroServer(opts);
      started.push(own);
      return own;
    });
    await Promise.all(started.map((p) => p.stop()));
  },
  pageProblems: async ({}, use) => {
    await use({ csp: [], errors: [] });
  },
  context: async ({ context, pageProblems }, use) => {
    await watchPages(context, pageProblems);
    await use(context);
    expect(pageProblems.csp, "Content-Security-Policy violations in the page").toEqual([]);
    expect(pageProblems.errors, "uncaught errors in the page").toEqual([]);
  },
});

/** watchPages records CSP violations and uncaught errors of every page of context into problems. */
async function watchPages(context: BrowserContext, problems: PageProblems): Promise<void> {
  await context.exposeBinding("__astroReportCSP", (_source, directive: string, blocked: string) => {
    problems.csp.push(`${directive} blocked ${blocked || "(inline)"}`);
  });
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      const report = (window as unknown as { __astroReportCSP?: (d: string, b: string) => void }).__astroReportCSP;
      report?.(e.effectiveDirective, e.blockedURI);
    });
  });
  const watch = (page: Page) => {
    page.on("pageerror", (err) => problems.errors.push(`${page.url()}: ${err.message}`));
    page.on("console", (msg) => {
      // Chromium also logs each violation; this catches one the event missed (e.g. before the listener).
      if (msg.type() === "error" && msg.text().includes("Content Security Policy") && !problems.csp.some((c) => c.startsWith("console: " + msg.text()))) {
        problems.csp.push("console: " + msg.text());
      }
    });
  };
  context.pages().forEach(watch);
  context.on("page", watch);
}

/** withToken makes every page of context start with token in sessionStorage, as if the user had typed it. */
export async function withToken(context: BrowserContext, token: string): Promise<void> {
  await context.addInitScript(
    ([key, value]) => {
      try {
        if (window.location.protocol.startsWith("http")) window.sessionStorage.setItem(key, value);
      } catch {
        // about:blank and other opaque origins have no sessionStorage.
      }
    },
    [TOKEN_KEY, token] as const,
  );
}

let axeSource: string | undefined;

/** A11yOptions configures checkA11y. */
export interface A11yOptions {
  /** ready waits until the re-opened page shows its content. Defaults to waiting for network idle. */
  ready?: (page: Page) => Promise<void>;
  /** label names the attachment (axe-<label>.json). Defaults to the URL's path. */
  label?: string;
}

/** A11yViolation is one axe rule that failed, as checkA11y reports it. */
export interface A11yViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * checkA11y runs axe-core on page's current URL, re-opened in a context with
 * bypassCSP (see the module comment), and fails the test if any violation is
 * serious or critical. It returns every violation, of any impact.
 */
export async function checkA11y(page: Page, opts: A11yOptions = {}): Promise<A11yViolation[]> {
  const browser = page.context().browser();
  if (!browser) throw new Error("checkA11y: the page has no browser");
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  const url = page.url();
  const storage: [string, string][] = await page.evaluate(() => {
    try {
      return Object.entries(window.sessionStorage);
    } catch {
      return [];
    }
  });
  const ctx = await browser.newContext({ bypassCSP: true, viewport: page.viewportSize() });
  try {
    await ctx.addInitScript((entries: [string, string][]) => {
      try {
        for (const [k, v] of entries) window.sessionStorage.setItem(k, v);
      } catch {
        // No sessionStorage on this origin.
      }
    }, storage);
    const p = await ctx.newPage();
    await p.goto(url);
    await (opts.ready ? opts.ready(p) : p.waitForLoadState("networkidle"));
    await p.addScriptTag({ content: axeSource });
    const results = await p.evaluate(async () => {
      const axe = (window as unknown as { axe: { run(ctx: Document): Promise<unknown> } }).axe;
      return axe.run(document);
    });
    const label = opts.label ?? (new URL(url).pathname.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "") || "root");
    await test.info().attach(`axe-${label}.json`, { body: JSON.stringify(results, null, 2), contentType: "application/json" });
    const violations = ((results as { violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }).violations).map(
      (v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.map(String).join(" ")) }),
    );
    const severe = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    expect(severe, `serious or critical axe violations on ${url}:\n${severe.map((v) => `- ${v.id} (${v.impact}): ${v.help}\n    ${v.targets.join("\n    ")}`).join("\n")}`).toEqual([]);
    return violations;
  } finally {
    await ctx.close();
  }
}

/** screenshot saves a full-page PNG of page as web/test-results/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true, animations: "disabled", caret: "hide" });
  return path;
}

/** uniqueName returns prefix followed by a random suffix, for names on the shared servers. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomToken().slice(-8)}`;
}

/** PlanOptions configures planBody. */
export interface PlanOptions {
  /** name defaults to uniqueName("web-test"). */
  name?: string;
  /** failing makes the health step expect status "sick" (the target says "healthy"), so the run fails. */
  failing?: boolean;
  /** description of the plan. */
  description?: string;
}

/** planBody returns the examples/plan.json plan pointed at targetUrl. */
export function planBody(targetUrl: string, opts: PlanOptions = {}): PlanBody {
  return {
    name: opts.name ?? uniqueName("web-test"),
    description: opts.description ?? "Checks the example target's health and user API.",
    labels: { team: "web", env: "test" },
    document: {
      variables: { base_url: targetUrl },
      steps: [
        {
          name: "Health check",
          request: { method: "GET", url: "{{base_url}}/api/v1/health" },
          assert: {
            status: [200],
            jsonpath: [{ path: "$.status", equals: opts.failing ? "sick" : "healthy" }],
          },
        },
        {
          name: "Create a user",
          request: { method: "POST", url: "{{base_url}}/api/v1/users", body: { name: "Ada" } },
          assert: { status: [200, 201], jsonpath: [{ path: "$.id", exists: true }] },
          capture: [{ name: "user_id", jsonpath: "$.id" }],
        },
        {
          name: "Read the user back",
          request: { method: "GET", url: "{{base_url}}/api/v1/users/{{user_id}}" },
          assert: { status: [200], jsonpath: [{ path: "$.name", equals: "Ada" }] },
        },
      ],
    },
  } as PlanBody;
}

/** createPlan stores body through the SDK and returns the plan. */
export async function createPlan(client: AstroClient, body: PlanBody): Promise<Plan> {
  return unwrap(client.POST("/plan", { body }));
}

/** runPlan executes the plan and waits (up to 30 s) until its execution is final. */
export async function runPlan(client: AstroClient, planId: string): Promise<Execution> {
  return client.runPlan(planId, { timeoutMs: 30_000, pollMs: 50 });
}

/**
 * enqueueExecutions creates n executions of the plan on opts.queue (default
 * "default"), at most 8 requests at a time, and returns them in creation
 * order. On a queue no worker serves they stay queued.
 */
export async function enqueueExecutions(
  client: AstroClient,
  planId: string,
  n: number,
  opts: { queue?: string } = {},
): Promise<Execution[]> {
  const out: Execution[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await unwrap(
        client.POST("/plan/{id}/execute", { params: { path: { id: planId } }, body: { queue: opts.queue ?? "default" } }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, n) }, worker));
  return out;
}
