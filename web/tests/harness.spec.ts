// Checks of the harness itself: its servers answer, its SDK helpers run a
// plan against the target, and its CSP watch and axe check fail when they
// should (on pages served here on 127.0.0.1, not by astro-runner).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, statSync } from "node:fs";
import {
  checkA11y,
  clientFor,
  createPlan,
  enqueueExecutions,
  expect,
  planBody,
  runPlan,
  screenshot,
  test,
} from "./harness.js";

const CSP = "default-src 'self'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'; img-src 'self' data:";

/** servePages serves fixed HTML pages on 127.0.0.1 under the dashboard's CSP. */
async function servePages(pages: Record<string, string>): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const srv: Server = createServer((req, res) => {
    const body = pages[req.url ?? ""];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CSP });
    res.end(body);
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      srv.closeAllConnections();
      srv.close(() => resolve());
    }),
  };
}

const GOOD_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Good</title></head>
<body><main><h1>Good</h1><p>Nothing wrong here.</p></main></body></html>`;
const INLINE_SCRIPT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Inline</title></head>
<body><main><h1>Inline</h1><script>document.title = "ran";</script></main></body></html>`;
const NO_ALT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>No alt</title></head>
<body><main><h1>No alt</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></body></html>`;
const THROWING_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Throws</title>
<script src="/throw.js"></script></head><body><main><h1>Throws</h1></main></body></html>`;

test.describe("harness", () => {
  test("the shared servers answer: open without a token, auth only with one", async ({ astro, authAstro, target }) => {
    expect((await fetch(`${astro.baseUrl}/plan`)).status).toBe(200);
    expect((await fetch(`${authAstro.baseUrl}/plan`)).status).toBe(401);
    const withToken = await authAstro.client.GET("/plan");
    expect(withToken.response.status).toBe(200);
    expect((await fetch(`${target.baseUrl}/api/v1/health`)).status).toBe(200);
  });

  test("the SDK helpers run a passing and a failing plan against the target", async ({ astro, target }) => {
    const ok = await createPlan(astro.client, planBody(target.baseUrl));
    expect((await runPlan(astro.client, ok.id)).status).toBe("passed");
    const bad = await createPlan(astro.client, planBody(target.baseUrl, { failing: true }));
    expect((await runPlan(astro.client, bad.id)).status).toBe("failed");
  });

  test("startAstro gives a private server; executions on an unserved queue stay queued", async ({ startAstro, target }) => {
    const own = await startAstro({ env: { ASTRO_QUEUES: "default" } });
    const plan = await createPlan(own.client, planBody(target.baseUrl));
    const execs = await enqueueExecutions(own.client, plan.id, 20, { queue: "backlog" });
    expect(execs).toHaveLength(20);
    expect(new Set(execs.map((e) => e.id)).size).toBe(20);
    const stats = await own.client.GET("/queue/stats");
    const backlog = stats.data?.queues.find((q) => q.queue === "backlog");
    expect(backlog?.counts.available).toBe(20);
    expect(clientFor(own.baseUrl)).toBeTruthy();
  });

  test("the CSP watch records an inline script the CSP blocks", async ({ page, pageProblems }) => {
    const site = await servePages({ "/": INLINE_SCRIPT_PAGE });
    try {
      await page.goto(site.baseUrl + "/");
      await expect(page.getByRole("heading", { name: "Inline" })).toBeVisible();
      await expect.poll(() => pageProblems.csp.length).toBeGreaterThan(0);
      expect(pageProblems.csp.join("\n")).toMatch(/script-src/);
      expect(await page.title()).toBe("Inline");
      pageProblems.csp.length = 0; // Provoked on purpose.
    } finally {
      await site.close();
    }
  });

  test("the error watch records an uncaught exception", async ({ page, pageProblems }) => {
    const site = await servePages({ "/": THROWING_PAGE });
    try {
      await page.route(`${site.baseUrl}/throw.js`, (route) =>
        route.fulfill({ contentType: "text/javascript", body: 'throw new Error("boom from the page")' }),
      );
      await page.goto(site.baseUrl + "/");
      await expect.poll(() => pageProblems.errors.join("\n")).toContain("boom from the page");
      pageProblems.errors.length = 0; // Provoked on purpose.
    } finally {
      await site.close();
    }
  });

  test("checkA11y passes a clean page and fails an image without alt text", async ({ page }) => {
    const site = await servePages({ "/good": GOOD_PAGE, "/no-alt": NO_ALT_PAGE });
    try {
      await page.goto(site.baseUrl + "/good");
      const clean = await checkA11y(page, { label: "harness-good" });
      expect(clean.filter((v) => v.impact === "serious" || v.impact === "critical")).toEqual([]);
      await page.goto(site.baseUrl + "/no-alt");
      await expect(checkA11y(page, { label: "harness-no-alt" })).rejects.toThrow(/image-alt/);
    } finally {
      await site.close();
    }
  });

  test("smoke: the API docs page renders under its CSP, with a screenshot", async ({ page }) => {
    const res = await page.goto("/docs");
    expect(res?.status()).toBe(200);
    expect(res?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await expect(page).toHaveTitle("astro-runner API");
    await expect(page.locator("elements-api")).toBeAttached();
    const path = await screenshot(page, "harness-docs");
    expect(existsSync(path) && statSync(path).size > 1000).toBe(true);
  });
});
