// The queue page with a real backlog: 1,000 executions enqueued on a queue
// no worker serves (so their jobs stay available) on a server of its own.
// The page must show the counts and the first page of jobs, page through
// them, filter them, and open one job; each step within the runner's normal
// timeouts (nothing is timed by the wall clock here).
import type { Locator, Page } from "@playwright/test";
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
    const queued = await enqueueExecutions(own.client, plan.id, BACKLOG, { queue: "backlog" });
    expect(queued).toHaveLength(BACKLOG);

    await page.goto(`${own.baseUrl}/ui/queue`);
    await expect(page.getByRole("heading", { level: 1, name: "Queue" })).toBeVisible();
    const counts = page.getByRole("region", { name: "Job counts" });
    await expect(counts.getByRole("link", { name: "1,000 available jobs in backlog" })).toBeVisible();
    await expect(counts.getByRole("link", { name: "3 completed jobs in default" })).toBeVisible();

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
    await page.getByLabel("State").selectOption("completed");
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
    await expect(page.getByLabel("State")).toHaveValue("available");
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

  test("an unknown job says so", async ({ page }) => {
    await page.goto("/ui/jobs/999999999");
    await expect(page.getByRole("alert")).toContainText("No job has ID 999999999.");
    await page.goto("/ui/jobs/not-a-number");
    await expect(page.getByRole("alert")).toContainText("is not a job ID");
  });
});
