// The execution page (/ui/executions/:id): a failing step's expected and
// actual values, redacted captures, live updates while queued, cancelling,
// and the JUnit download.
import { unwrap } from "@astro-runner/client";
import { readFileSync } from "node:fs";
import { checkA11y, createPlan, expect, planBody, runPlan, screenshot, test, uniqueName } from "./harness.js";

test.describe("execution page", () => {
  test("a broken target shows the failing step's expected and actual values", async ({ page, astro, target }) => {
    // The health check expects "sick"; the target answers "healthy".
    const plan = await createPlan(astro.client, planBody(target.baseUrl, { name: uniqueName("web-broken"), failing: true }));
    await page.goto(`/ui/plans/${plan.id}`);
    await page.getByRole("button", { name: "Run now" }).click();
    await expect(page).toHaveURL(/\/ui\/executions\//);
    await expect(page.locator(".page-header h1 .badge")).toHaveText(/failed/, { timeout: 20_000 });

    const execId = page.url().split("/").pop()!;
    const step = page.locator("li.step").first();
    await expect(step).toHaveAttribute("data-step-status", "failed");
    await expect(step.getByRole("heading")).toContainText("Health check");
    const failedRow = step.locator("table.assertions tr.row-failed");
    await expect(failedRow).toHaveCount(1);
    await expect(failedRow).toContainText("$.status");
    await expect(failedRow.locator(".assert-expected")).toHaveText("sick");
    await expect(failedRow.locator(".assert-actual")).toHaveText("healthy");
    await expect(failedRow.locator(".badge")).toHaveText(/failed/);
    // The passed status check is shown as passed beside it.
    await expect(step.locator("table.assertions tbody tr:not(.row-failed) .badge").first()).toHaveText(/passed/);
    // The response excerpt of a failed step is open.
    await expect(step.locator("details.excerpt pre")).toContainText('"status": "healthy"');
    // The steps after it were skipped.
    await expect(page.locator("li.step[data-step-status=skipped]")).toHaveCount(2);
    await checkA11y(page, { label: "execution-failed", ready: (p) => expect(p.locator("li.step")).toHaveCount(3) });
    await screenshot(page, "execution-failed");

    // The overview lists the plan among the failing ones.
    await page.goto("/");
    const failing = page.locator("section", { has: page.getByRole("heading", { name: /Failing now/ }) });
    await expect(failing.getByRole("link", { name: plan.name, exact: true })).toBeVisible();
    // Its "latest run" link opens this execution.
    await expect(failing.getByRole("link", { name: `latest run of ${plan.name}` })).toHaveAttribute(
      "href",
      `/ui/executions/${execId}`,
    );
  });

  test("a captured secret is shown as redacted, never as its value", async ({ page, astro, target }) => {
    const body = planBody(target.baseUrl, { name: uniqueName("web-redact") });
    body.document.steps[1]!.capture = [
      { name: "user_id", jsonpath: "$.id" },
      { name: "api_token", jsonpath: "$.name" },
    ];
    const plan = await createPlan(astro.client, body);
    const exec = await runPlan(astro.client, plan.id);
    expect(exec.status).toBe("passed");
    // The API itself redacts the value: the page must show that, not invent it.
    const captured = exec.result?.steps?.[1]?.captured ?? {};
    expect(captured.api_token).toBe("[REDACTED]");
    expect(captured.user_id).toMatch(/^\d+$/);

    await page.goto(`/ui/executions/${exec.id}`);
    const table = page.locator("li.step").nth(1).locator("table.captures");
    const tokenRow = table.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "api_token" }) });
    await expect(tokenRow.locator(".redacted")).toHaveText(/redacted/);
    await expect(tokenRow).not.toContainText("[REDACTED]");
    const idRow = table.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "user_id" }) });
    await expect(idRow).toContainText(captured.user_id!);
    await expect(idRow.locator(".redacted")).toHaveCount(0);
    await screenshot(page, "execution-redacted");
  });

  test("a queued execution updates by itself, and Cancel cancels it", async ({ page, startAstro, target }) => {
    // A private server whose workers serve only "default": runs on "backlog" stay queued.
    const own = await startAstro({ env: { ASTRO_QUEUES: "default" } });
    const plan = await createPlan(own.client, planBody(target.baseUrl, { name: uniqueName("web-queued") }));
    const queued = () =>
      unwrap(own.client.POST("/plan/{id}/execute", { params: { path: { id: plan.id } }, body: { queue: "backlog" } }));

    // Live update: cancelled through the API, the open page follows.
    const first = await queued();
    await page.goto(`${own.baseUrl}/ui/executions/${first.id}`);
    await expect(page.locator(".page-header h1 .badge")).toHaveText(/queued/);
    await expect(page.getByText("Waiting for a worker")).toBeVisible();
    await checkA11y(page, { label: "execution-queued" });
    await unwrap(own.client.POST("/execution/{id}/cancel", { params: { path: { id: first.id } } }));
    await expect(page.locator(".page-header h1 .badge")).toHaveText(/cancelled/, { timeout: 10_000 });
    await expect(page.getByRole("button", { name: "Cancel" })).toHaveCount(0);

    // The Cancel button.
    const second = await queued();
    await page.goto(`${own.baseUrl}/ui/executions/${second.id}`);
    await page.getByRole("button", { name: "Cancel" }).click();
    await expect(page.locator(".page-header h1 .badge")).toHaveText(/cancelled/);
    const after = await unwrap(own.client.GET("/execution/{id}", { params: { path: { id: second.id } } }));
    expect(after.status).toBe("cancelled");
  });

  test("Download JUnit saves the execution's report", async ({ page, astro, target }) => {
    const plan = await createPlan(astro.client, planBody(target.baseUrl, { name: uniqueName("web-junit") }));
    const exec = await runPlan(astro.client, plan.id);
    await page.goto(`/ui/executions/${exec.id}`);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download JUnit" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`execution-${exec.id}.junit.xml`);
    const xml = readFileSync((await download.path())!, "utf8");
    expect(xml).toBe(await astro.client.junitReport(exec.id));
    expect(xml).toContain("<testsuite");
  });
});
