// Every page of the dashboard, with data in it: each is opened, shows its
// content, passes axe-core (no serious or critical violations) and is saved
// as web/test-results/screenshots/<page>.png. `npm run screenshots` runs
// this file and copies overview.png and execution.png to web/screenshots/.
// The harness fails any test whose page breaks the CSP or throws.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Page } from "@playwright/test";
import {
  checkA11y,
  createPlan,
  enqueueExecutions,
  expect,
  startAstroServer,
  planBody,
  runPlan,
  screenshot,
  test,
  type Astro,
  type Execution,
  type OwnAstro,
  type Plan,
} from "./harness.js";
import { unwrap } from "@astro-runner/client";

/** Seed is what the pages show. */
interface Seed {
  astro: Astro;
  passing: Plan;
  failing: Plan;
  passed: Execution;
  failed: Execution;
  jobId: number;
  environment: string;
  secret: string;
  channelId: string;
  channelName: string;
}

let seed: Seed | undefined;

/** SECRET_VALUE is the stored secret's value, which no page may show. */
const SECRET_VALUE = "s3cr3t-token-value";

/** heading waits for the page's <h1> to read name. */
async function heading(page: Page, name: string | RegExp): Promise<void> {
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
}

/** settled waits until no "Loading…" placeholder is left on the page. */
async function settled(page: Page): Promise<void> {
  await expect(page.getByRole("status").filter({ hasText: /^Loading/ })).toHaveCount(0);
}

/** visit opens path, waits for ready, runs axe on the same state, and saves the screenshot. */
async function visit(page: Page, path: string, name: string, ready: (p: Page) => Promise<void>): Promise<void> {
  await page.goto(path);
  await ready(page);
  await settled(page);
  await screenshot(page, name);
  await checkA11y(page, {
    label: name,
    ready: async (p) => {
      await ready(p);
      await settled(p);
    },
  });
}

test.describe("every page", () => {
  // A server of its own, so that the pages (and the screenshots) show only this seed.
  let own: OwnAstro | undefined;
  let receiver: Server | undefined;

  test.beforeAll(async ({ target }) => {
    receiver = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => receiver!.listen(0, "127.0.0.1", resolve));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    own = await startAstroServer();
    seed = await seedServer(own, target.baseUrl, receiverUrl);
  });

  test.afterAll(async () => {
    await own?.stop();
    receiver?.closeAllConnections();
    receiver?.close();
  });

  test("overview", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/`, "overview", async (p) => {
      await heading(p, /overview/i);
      await expect(p.getByRole("link", { name: s.passing.name }).first()).toBeVisible();
      await expect(p.getByRole("link", { name: s.failing.name }).first()).toBeVisible();
    });
  });

  test("plan", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/plans/${s.passing.id}`, "plan", async (p) => {
      await expect(p.getByRole("heading", { level: 1 })).toBeVisible();
    });
  });

  test("new plan", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/plans/new`, "plan-new", async (p) => {
      await expect(p.getByRole("heading", { level: 1 })).toBeVisible();
    });
  });

  test("execution", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/executions/${s.failed.id}`, "execution", async (p) => {
      await expect(p.getByRole("heading", { level: 1 })).toBeVisible();
    });
  });

  test("queue", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/queue`, "queue", async (p) => {
      await heading(p, "Queue");
      await expect(p.getByRole("rowheader", { name: "nightly" })).toBeVisible();
      await expect(p.getByRole("link", { name: "2 available jobs in nightly" })).toBeVisible();
      await expect(p.getByRole("link", { name: "1 cancelled job in nightly" })).toBeVisible();
      // Pick-up latency (p50 / p99): the default queue's runs started, the nightly queue's never did.
      const pickup = (queue: string) =>
        p.getByRole("region", { name: "Job counts" }).getByRole("row").filter({ has: p.getByRole("rowheader", { name: queue, exact: true }) }).getByRole("cell").last();
      await expect(pickup("default")).toHaveText(/^\d[\d.]* (ms|s) \/ \d[\d.]* (ms|s)$/);
      await expect(pickup("nightly")).toHaveText("—");
      await expect(p.getByRole("link", { name: String(s.jobId), exact: true })).toBeVisible();
    });
  });

  test("job", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/jobs/${s.jobId}`, "job", async (p) => {
      await heading(p, `Job ${s.jobId}`);
      await expect(p.getByRole("main").getByText(/completed/).first()).toBeVisible();
      await expect(p.getByRole("link", { name: s.passed.id })).toBeVisible();
    });
  });

  test("environments", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/environments`, "environments", async (p) => {
      await heading(p, "Environments");
      await expect(p.getByRole("rowheader", { name: s.environment })).toBeVisible();
      await expect(p.getByRole("rowheader", { name: "production" })).toBeVisible();
    });
  });

  test("secrets", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/secrets`, "secrets", async (p) => {
      await heading(p, "Secrets");
      await expect(p.getByRole("rowheader", { name: s.secret })).toBeVisible();
    });
    expect(await page.content()).not.toContain(SECRET_VALUE);
  });

  test("channels", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/channels`, "channels", async (p) => {
      await heading(p, "Channels");
      await expect(p.getByRole("link", { name: s.channelName })).toBeVisible();
    });
  });

  test("channel", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/channels/${s.channelId}`, "channel", async (p) => {
      await heading(p, `Channel ${s.channelName}`);
      await expect(p.getByRole("cell", { name: "test", exact: true })).toBeVisible();
    });
  });

  test("page not found", async ({ page }) => {
    const s = seed!;
    await visit(page, `${s.astro.baseUrl}/ui/no-such-page`, "not-found", async (p) => {
      await heading(p, "Page not found");
    });
  });

  test("phone width: queue and channel", async ({ page }) => {
    const s = seed!;
    await page.setViewportSize({ width: 390, height: 844 });
    await visit(page, `${s.astro.baseUrl}/ui/queue`, "queue-phone", async (p) => {
      await heading(p, "Queue");
    });
    await visit(page, `${s.astro.baseUrl}/ui/channels/${s.channelId}`, "channel-phone", async (p) => {
      await heading(p, `Channel ${s.channelName}`);
    });
  });
});

/** seedServer fills astro with what the pages show. */
async function seedServer(astro: Astro, targetUrl: string, receiverUrl: string): Promise<Seed> {
  const c = astro.client;
  const passing = await createPlan(c, planBody(targetUrl, { name: "checkout-smoke", description: "Checks the checkout API." }));
  const failing = await createPlan(c, planBody(targetUrl, { name: "users-api", failing: true, description: "Checks the user API." }));
  for (let i = 0; i < 3; i++) await runPlan(c, passing.id);
  await runPlan(c, failing.id);
  const passed = await runPlan(c, passing.id);
  const failed = await runPlan(c, failing.id);
  // A queue no worker serves: its jobs stay available.
  const report = await createPlan(c, planBody(targetUrl, { name: "billing-nightly", description: "Runs on the nightly queue." }));
  const nightly = await enqueueExecutions(c, report.id, 3, { queue: "nightly" });
  await unwrap(c.POST("/execution/{id}/cancel", { params: { path: { id: nightly[0]!.id } } }));
  const job = await unwrap(c.GET("/execution/{id}", { params: { path: { id: passed.id } } }));
  expect(job.job_id, "the passed execution's job is kept for a day").not.toBeNull();
  await unwrap(c.POST("/environment", { body: { name: "staging", description: "The staging cluster.", variables: { base_url: targetUrl } } }));
  await unwrap(c.POST("/environment", { body: { name: "production", description: "Live.", variables: { base_url: targetUrl, region: "eu-west-1" } } }));
  await unwrap(c.PUT("/secret/{name}", { params: { path: { name: "API_TOKEN" } }, body: { value: SECRET_VALUE } }));
  await unwrap(c.PUT("/secret/{name}", { params: { path: { name: "DB_PASSWORD" } }, body: { value: "another-value" } }));
  const ch = await unwrap(
    c.POST("/channel", { body: { name: "ops-webhook", kind: "webhook", url: receiverUrl, secret: "a-signing-secret-of-32-bytes!!!!" } }),
  );
  await unwrap(c.POST("/channel/{id}/test", { params: { path: { id: ch.id } } }));
  return {
    astro,
    passing,
    failing,
    passed,
    failed,
    jobId: job.job_id as number,
    environment: "staging",
    secret: "API_TOKEN",
    channelId: ch.id,
    channelName: ch.name,
  };
}
