// The plan page (/ui/plans/:id and /ui/plans/new): creating a plan through
// the JSON editor (and seeing a validation problem on its line), running it
// and watching it pass, and creating and pausing a schedule.
import { unwrap } from "@astro-runner/client";
import { checkA11y, createPlan, expect, planBody, screenshot, test, uniqueName } from "./harness.js";

test.describe("plan page", () => {
  test("create a plan through the page, run it, watch it pass", async ({ page, astro, target }) => {
    await page.goto("/ui/plans/new");
    await expect(page.getByRole("heading", { name: "New plan", level: 1 })).toBeVisible();
    const body = planBody(target.baseUrl, { name: uniqueName("web-create") });
    await page.getByLabel("Plan JSON").fill(JSON.stringify(body, null, 2));
    await page.getByRole("button", { name: "Create plan" }).click();

    await expect(page).toHaveURL(/\/ui\/plans\/[0-9a-f-]{36}$/);
    const planId = page.url().split("/").pop()!;
    await expect(page.getByRole("heading", { name: body.name, level: 1 })).toBeVisible();
    // The plan is stored as typed.
    const stored = await unwrap(astro.client.GET("/plan/{id}", { params: { path: { id: planId } } }));
    expect(stored.document.steps.map((s) => s.name)).toEqual(body.document.steps.map((s) => s.name));
    // The readable summary lists the steps.
    await expect(page.getByRole("cell", { name: "Read the user back" })).toBeVisible();
    await checkA11y(page, { label: "plan", ready: (p) => expect(p.getByRole("heading", { name: body.name })).toBeVisible() });
    await screenshot(page, "plan");

    await page.getByRole("button", { name: "Run now" }).click();
    await expect(page).toHaveURL(/\/ui\/executions\/[0-9a-f-]{36}$/);
    // The page polls until the run is final: no reload here.
    const header = page.locator(".page-header h1");
    await expect(header.locator(".badge")).toHaveText(/passed/, { timeout: 20_000 });
    await expect(page.locator("li.step[data-step-status=passed]")).toHaveCount(3);
    // The request as the plan wrote it, and the response the target gave.
    const create = page.locator("li.step").nth(1);
    await create.getByText("Request headers and body, as written in the plan").click();
    await expect(create.locator("details.excerpt pre").first()).toContainText('POST {{base_url}}/api/v1/users');
    await expect(create.locator("details.excerpt pre").first()).toContainText('"name": "Ada"');
    await create.getByText("Response body (first 4 KiB)").click();
    await expect(create.locator("details.excerpt pre").last()).toContainText('"id"');
    const execId = page.url().split("/").pop()!;
    const exec = await unwrap(astro.client.GET("/execution/{id}", { params: { path: { id: execId } } }));
    expect(exec.status).toBe("passed");
    expect(exec.plan_id).toBe(planId);
    await checkA11y(page, { label: "execution-passed", ready: (p) => expect(p.locator("li.step")).toHaveCount(3) });
    await screenshot(page, "execution-passed");

    // Back on the plan page the run is listed.
    await page.goto(`/ui/plans/${planId}`);
    const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: execId.slice(-8) }) });
    await expect(row.locator(".badge")).toHaveText(/passed/);
  });

  test("a validation problem is shown on its line, and the fixed plan saves", async ({ page, target }) => {
    await page.goto("/ui/plans/new");
    const body = planBody(target.baseUrl, { name: uniqueName("web-invalid") });
    const steps = body.document.steps;
    steps[2]!.assert = { status: [999] };
    const text = JSON.stringify(body, null, 2);
    const editor = page.getByLabel("Plan JSON");
    await editor.fill(text);
    await page.getByRole("button", { name: "Create plan" }).click();

    const problems = page.locator("#plan-problems");
    await expect(problems).toContainText("body.document.steps[2].assert.status[0]");
    await expect(problems).toContainText("599");
    // The line of the 999 is the one marked in the gutter and named in the list.
    const line = text.split("\n").findIndex((l) => l.includes("999")) + 1;
    await expect(page.locator(".gutter-line.bad")).toHaveText([`✗ ${line}`]);
    await expect(problems.getByRole("button", { name: `Line ${line}` })).toBeVisible();
    await expect(editor).toHaveAttribute("aria-invalid", "true");
    // The problem's button selects the bad value in the text.
    await problems.getByRole("button", { name: `Line ${line}` }).click();
    const selected = await editor.evaluate((el: HTMLTextAreaElement) => el.value.slice(el.selectionStart, el.selectionEnd));
    expect(selected).toBe("999");
    await checkA11y(page, { label: "plan-new" });
    await screenshot(page, "plan-problem");

    // A syntax error is caught before sending, with its line.
    await editor.fill('{\n  "name": "x",\n  oops\n}');
    await page.getByRole("button", { name: "Create plan" }).click();
    await expect(problems).toContainText("Not JSON");
    await expect(page.locator(".gutter-line.bad")).toHaveText(["✗ 3"]);

    steps[2]!.assert = { status: [200] };
    await editor.fill(JSON.stringify(body, null, 2));
    await page.getByRole("button", { name: "Create plan" }).click();
    await expect(page).toHaveURL(/\/ui\/plans\/[0-9a-f-]{36}$/);
    await expect(page.getByRole("heading", { name: body.name, level: 1 })).toBeVisible();
  });

  test("editing a stored plan saves a new revision; a bad edit is refused with its location", async ({ page, astro, target }) => {
    const plan = await createPlan(astro.client, planBody(target.baseUrl, { name: uniqueName("web-edit") }));
    await page.goto(`/ui/plans/${plan.id}`);
    await page.getByText("Edit as JSON").click();
    const editor = page.getByLabel("Plan JSON");
    const body = JSON.parse(await editor.inputValue());
    body.description = "Edited in the dashboard.";
    body.document.steps[0].request.url = "not a url";
    await editor.fill(JSON.stringify(body, null, 2));
    await page.getByRole("button", { name: "Save changes" }).click();
    await expect(page.locator("#plan-problems")).toContainText("body.document.steps[0].request.url");

    body.document.steps[0].request.url = "{{base_url}}/api/v1/health";
    await editor.fill(JSON.stringify(body, null, 2));
    await page.getByRole("button", { name: "Save changes" }).click();
    await expect(page.getByText("Edited in the dashboard.").first()).toBeVisible();
    const stored = await unwrap(astro.client.GET("/plan/{id}", { params: { path: { id: plan.id } } }));
    expect(stored.revision).toBe(2);
    expect(stored.description).toBe("Edited in the dashboard.");
  });

  test("create and pause a schedule", async ({ page, astro, target }) => {
    const plan = await createPlan(astro.client, planBody(target.baseUrl, { name: uniqueName("web-sched") }));
    await page.goto(`/ui/plans/${plan.id}`);
    await expect(page.getByText("No schedules")).toBeVisible();

    // A bad expression is refused next to its field.
    await page.getByLabel("Cron or @every").fill("every now and then");
    await page.getByRole("button", { name: "Add schedule" }).click();
    await expect(page.locator("#schedule-cron-error")).toContainText("5 fields");
    await expect(page.getByLabel("Cron or @every")).toHaveAttribute("aria-invalid", "true");

    await page.getByLabel("Cron or @every").fill("@every 1h");
    await page.getByRole("button", { name: "Add schedule" }).click();
    const row = page.locator("tr[data-schedule-id]");
    await expect(row).toHaveCount(1);
    await expect(row).toContainText("@every 1h");
    await expect(row.locator(".badge")).toHaveText(/active/);
    const scheduleId = (await row.getAttribute("data-schedule-id"))!;

    await row.getByRole("button", { name: "Pause schedule @every 1h" }).click();
    await expect(row.locator(".badge")).toHaveText(/paused/);
    await expect(row.getByRole("button", { name: "Resume schedule @every 1h" })).toBeVisible();
    const paused = await unwrap(astro.client.GET("/schedule/{id}", { params: { path: { id: scheduleId } } }));
    expect(paused.paused).toBe(true);
    await checkA11y(page, { label: "plan-schedules", ready: (p) => expect(p.locator("tr[data-schedule-id]")).toHaveCount(1) });

    await row.getByRole("button", { name: "Resume schedule @every 1h" }).click();
    await expect(row.locator(".badge")).toHaveText(/active/);
    const resumed = await unwrap(astro.client.GET("/schedule/{id}", { params: { path: { id: scheduleId } } }));
    expect(resumed.paused).toBe(false);
  });

  test("run now with a variable override, and the trends of past runs", async ({ page, astro, target }) => {
    const plan = await createPlan(astro.client, planBody("http://127.0.0.1:9", { name: uniqueName("web-override") }));
    await astro.client.runPlan(plan.id, { timeoutMs: 30_000, pollMs: 50 });
    await page.goto(`/ui/plans/${plan.id}`);
    // The stored base_url points nowhere; the override points at the target.
    await page.getByLabel("base_url").fill(target.baseUrl);
    await page.getByRole("button", { name: "Run now" }).click();
    await expect(page).toHaveURL(/\/ui\/executions\//);
    await expect(page.locator(".page-header h1 .badge")).toHaveText(/passed/, { timeout: 20_000 });
    await expect(page.locator("section[aria-labelledby=facts-title] dl.facts")).toContainText(`base_url = ${target.baseUrl}`);

    await page.goto(`/ui/plans/${plan.id}`);
    const trends = page.locator("section", { has: page.getByRole("heading", { name: "Trends" }) });
    await expect(trends.locator(".stat", { hasText: "Runs" }).locator("dd")).toHaveText("2");
    await expect(trends.locator(".stat", { hasText: "Pass rate" }).locator("dd")).toHaveText("50.0 %");
    await expect(trends.locator(".chart canvas")).toBeVisible();
    // The execution list filters by status: one passed run, one failed (the unreachable target).
    const executions = page.locator("section", { has: page.getByRole("heading", { name: "Executions" }) });
    await expect(executions.locator("tbody tr")).toHaveCount(2);
    await page.getByLabel("Status").selectOption("failed");
    await expect(executions.locator("tbody tr")).toHaveCount(1);
    await expect(executions.locator("tbody .badge")).toHaveText([/failed/]);
    await page.getByLabel("Status").selectOption("passed");
    await expect(executions.locator("tbody .badge")).toHaveText([/passed/]);
    await page.getByLabel("Trigger").selectOption("schedule");
    await expect(executions.getByText("No executions match.")).toBeVisible();
  });
});
