// The queue page with a real backlog: 1,000 executions enqueued on a queue
// no worker serves (so their jobs stay available) on a server of its own.
// The page must show the counts and the first page of jobs, page through
// them, filter them, and open one job; each step within the runner's normal
// timeouts (nothing is timed by the wall clock here).
import type { Locator, Page } from "@playwright/test";
import { unwrap } from "@astro-runner/client";
import { createPlan, enqueueExecutions, expect, planBody, runPlan, test, type OwnAstro } from "./harness.js";

const BACKLOG = 1000;

/** jobIds returns the job IDs listed in the jobs table, in order. */
async function jobIds(list: Locator): Promise<number[]> {
  const cells = await list.getByRole("rowheader").allTextContents();
  return cells.map((t) => Number(t.trim()));
}

function jobList(page: Page): Locator {
  return page.getByRole("region", { name: "Job list" });
}

test.describe("queue page", () => {
  test("after 1,000 enqueued executions: counts, first page, paging, filters, one job", async ({ page, startAstro, target }) => {
    test.setTimeout(180_000);
    // Workers serve "default" only: the "backlog" queue's jobs wait.
    const own: OwnAstro = await startAstro({ env: { ASTRO_QUEUES: "default" } });
    const plan = await createPlan(own.client, planBody(target.baseUrl));
    for (let i = 0; i < 3; i++) expect((await runPlan(own.client, plan.id)).status).toBe("passed");
    const queued = await enqueueExecutions(own.client, plan.id, BACKLOG + 1, { queue: "backlog" });
    // One more, cancelled while queued: its job is cancelled, the rest stay available.
    const cancelled = queued.shift()!;
    await unwrap(own.client.POST("/execution/{id}/cancel", { params: { path: { id: cancelled.id } } }));
    expect(queued).toHaveLength(BACKLOG);

    await page.goto(`${own.baseUrl}/ui/queue`);
    await expect(page.getByRole("heading", { level: 1, name: "Queue" })).toBeVisible();
    const counts = page.getByRole("region", { name: "Job counts" });
    await expect(counts.getByRole("link", { name: "1,000 available jobs in backlog" })).toBeVisible();
    await expect(counts.getByRole("link", { name: "3 completed jobs in default" })).toBeVisible();
    await expect(counts.getByRole("link", { name: "1 cancelled job in backlog" })).toBeVisible();
    // No backlog execution ever started: no pick-up latency.
    await expect(counts.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "backlog" }) }).getByRole("cell").last()).toHaveText("—");

    // The first page: the 50 newest jobs, all of the backlog.
    const list = jobList(page);
    await expect(list.getByRole("row")).toHaveCount(51);
    const first = await jobIds(list);
    expect(first).toHaveLength(50);
    expect([...first].sort((a, b) => b - a)).toEqual(first);
    await expect(list.getByRole("row").nth(1)).toContainText("backlog");
    await expect(list.getByRole("row").nth(1)).toContainText("available");

    // Next page: older jobs, none repeated; Previous comes back.
    const pages = page.getByRole("navigation", { name: "Job pages" });
    await pages.getByRole("button", { name: "Next →" }).click();
    await expect(pages).toContainText("Page 2");
    await expect(list.getByRole("rowheader").first()).not.toHaveText(String(first[0]));
    const second = await jobIds(list);
    expect(second).toHaveLength(50);
    expect(Math.max(...second)).toBeLessThan(Math.min(...first));
    await pages.getByRole("button", { name: "Next →" }).click();
    await expect(pages).toContainText("Page 3");
    await pages.getByRole("button", { name: "← Previous" }).click();
    await expect(pages).toContainText("Page 2");
    await expect(list.getByRole("rowheader").first()).toHaveText(String(second[0]));

    // Filter by state: the three completed jobs of the default queue, and no paging.
    await page.getByLabel("State", { exact: true }).selectOption("completed");
    await expect(page).toHaveURL(/\/ui\/queue\?state=completed$/);
    await expect(list.getByRole("row")).toHaveCount(4);
    for (const row of await list.getByRole("row").all().then((r) => r.slice(1))) {
      await expect(row).toContainText("completed");
      await expect(row).toContainText("default");
    }
    await expect(page.getByRole("navigation", { name: "Job pages" })).toHaveCount(0);

    // A count links to its jobs: queue and state filters together.
    await counts.getByRole("link", { name: "1,000 available jobs in backlog" }).click();
    await expect(page).toHaveURL(/\/ui\/queue\?queue=backlog&state=available$/);
    await expect(page.getByLabel("Queue", { exact: true })).toHaveValue("backlog");
    await expect(page.getByLabel("State", { exact: true })).toHaveValue("available");
    await expect(list.getByRole("row")).toHaveCount(51);
    await expect(pages.getByRole("button", { name: "Next →" })).toBeEnabled();

    // One job: its page names its execution.
    const newest = queued.map((e) => e.job_id ?? 0).reduce((a, b) => Math.max(a, b), 0);
    expect(newest).toBeGreaterThan(0);
    await list.getByRole("link", { name: String(newest), exact: true }).click();
    await expect(page.getByRole("heading", { level: 1, name: `Job ${newest}` })).toBeVisible();
    const details = page.getByRole("region", { name: "Details" });
    await expect(details).toContainText("backlog");
    await expect(details).toContainText("0 of");
    const exec = queued.find((e) => e.job_id === newest);
    await expect(details.getByRole("link", { name: exec!.id })).toBeVisible();
    await expect(page.getByRole("region", { name: "Failed attempts" })).toContainText("No attempt has failed.");
  });

  test("failed attempts: the list shows attempts and the last error, the job page every error", async ({ page, astro }) => {
    // No API call makes a job's handler fail on purpose, so the answers are
    // stubbed here, in the shape of the Job schema; the page is the real one.
    const job = {
      id: 424242,
      queue: "default",
      kind: "execute_plan",
      payload: { execution_id: "01a2f000-0000-7000-8000-00000000beef" },
      priority: 0,
      run_at: "2026-01-02T15:04:05Z",
      state: "retryable",
      attempt: 2,
      max_attempts: 5,
      created_at: "2026-01-02T15:00:00Z",
      finished_at: null,
      lease_owner: "",
      lease_expires_at: null,
      last_error: "store result: database is locked",
      unique_key: "",
      cancel_requested: false,
      errors: [
        { attempt: 1, at: "2026-01-02T15:01:00Z", error: "claim heartbeat lost: lease expired" },
        { attempt: 2, at: "2026-01-02T15:03:00Z", error: "store result: database is locked" },
      ],
    };
    await page.route((url) => url.origin === astro.baseUrl && url.pathname === "/job", (route) =>
      route.fulfill({ contentType: "application/json", body: JSON.stringify({ jobs: [job], next_cursor: "" }) }),
    );
    await page.route(`${astro.baseUrl}/job/424242`, (route) => route.fulfill({ contentType: "application/json", body: JSON.stringify(job) }));
    await page.goto("/ui/queue");
    const row = jobList(page).getByRole("row").filter({ has: page.getByRole("rowheader", { name: "424242" }) });
    await expect(row).toContainText("retryable");
    await expect(row).toContainText("2 / 5");
    await expect(row).toContainText("store result: database is locked");
    await row.getByRole("link", { name: "424242" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Job 424242" })).toBeVisible();
    const failed = page.getByRole("region", { name: "Failed attempts" });
    await expect(failed.getByRole("row")).toHaveCount(3);
    await expect(failed.getByRole("row").nth(1)).toContainText("claim heartbeat lost: lease expired");
    await expect(failed.getByRole("row").nth(2)).toContainText("store result: database is locked");
    await expect(page.getByRole("region", { name: "Details" })).toContainText("2 of 5");
  });

  test("an unknown job says so", async ({ page }) => {
    await page.goto("/ui/jobs/999999999");
    await expect(page.getByRole("alert")).toContainText("No job has ID 999999999.");
    await page.goto("/ui/jobs/not-a-number");
    await expect(page.getByRole("alert")).toContainText("is not a job ID");
  });
});
