// The overview page (/): plans with their latest status and last runs, the
// failing ones first, and the token prompt on a server that needs a token.
import type { Page } from "@playwright/test";
import { checkA11y, createPlan, expect, planBody, runPlan, screenshot, test, uniqueName } from "./harness.js";

test.describe("overview page", () => {
  test("plans show their latest status and a labelled strip of runs, failing ones first", async ({ page, startAstro, target }) => {
    // A private server, so that the page holds only these plans.
    const own = await startAstro();
    const good = await createPlan(own.client, planBody(target.baseUrl, { name: uniqueName("a-good") }));
    const bad = await createPlan(own.client, planBody(target.baseUrl, { name: uniqueName("z-bad"), failing: true }));
    for (let i = 0; i < 3; i++) await runPlan(own.client, good.id);
    await runPlan(own.client, bad.id);

    const plansShown = async (p: Page) => {
      await expect(p.locator("section", { has: p.getByRole("heading", { name: "Plans" }) }).locator("tbody tr")).toHaveCount(2);
      await expect(p.locator("table.queue-latency")).toBeVisible();
    };
    await page.goto(`${own.baseUrl}/`);
    const plans = page.locator("section", { has: page.getByRole("heading", { name: "Plans" }) });
    const rows = plans.locator("tbody tr");
    await expect(rows).toHaveCount(2);
    // Failing first, although its name sorts last.
    await expect(rows.nth(0).getByRole("link", { name: bad.name })).toBeVisible();
    await expect(rows.nth(0).locator(".badge")).toHaveText(/failed/);
    await expect(rows.nth(1).locator(".badge")).toHaveText(/passed/);
    // The strip: one dot per run, each a link named by its status.
    const strip = rows.nth(1).getByRole("list", { name: `Last runs of ${good.name}, oldest first` });
    await expect(strip.getByRole("link")).toHaveCount(3);
    await expect(strip.getByRole("link").first()).toHaveAccessibleName(/^passed, api, /);
    await expect(rows.nth(1)).toContainText("100 %");
    await expect(rows.nth(0)).toContainText("0 %");
    const failing = page.locator("section", { has: page.getByRole("heading", { name: /Failing now/ }) });
    await expect(failing.getByRole("listitem")).toHaveCount(1);
    await expect(failing.getByRole("link", { name: bad.name, exact: true })).toBeVisible();
    // The 24 h totals: 4 runs, 3 passed.
    const totals = page.locator("section", { has: page.getByRole("heading", { name: "Last 24 hours" }) });
    await expect(totals.locator(".stat", { hasText: "Runs" }).locator("dd")).toHaveText("4");
    await expect(totals.locator(".stat", { hasText: "Pass rate" }).locator("dd")).toHaveText("75.0 %");
    // The queue: 4 completed jobs, and a pick-up latency measured over the 4 runs.
    const queue = page.locator("section", { has: page.getByRole("heading", { name: "Queue" }) });
    await expect(queue.locator(".stat", { hasText: "completed" }).locator("dd")).toHaveText("4");
    const defaultRow = queue.getByRole("row").filter({ has: page.getByRole("rowheader", { name: "default" }) });
    await expect(defaultRow.locator("td").last()).toHaveText("4");
    await expect(defaultRow.locator("td").nth(2)).toHaveText(/\d+(\.\d+)? (ms|s)$/);
    await expect(defaultRow.getByRole("link", { name: "default" })).toHaveAttribute("href", "/ui/queue?queue=default");
    await checkA11y(page, { label: "overview", ready: plansShown });
    await screenshot(page, "overview-failing-first");

    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "overview-phone");
    await checkA11y(page, { label: "overview-phone", ready: plansShown });
  });

  test("a server that needs a token asks for it, and the page loads once it is given", async ({ page, authAstro, target }) => {
    const plan = await createPlan(authAstro.client, planBody(target.baseUrl, { name: uniqueName("web-auth") }));
    await page.goto(`${authAstro.baseUrl}/`);
    const dialog = page.getByRole("dialog", { name: "API token needed" });
    await expect(dialog).toBeVisible();
    await dialog.getByLabel("Token").fill("wrong-token");
    await dialog.getByRole("button", { name: "Use token" }).click();
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText("did not accept");
    await dialog.getByLabel("Token").fill(authAstro.token);
    await dialog.getByRole("button", { name: "Use token" }).click();
    await expect(dialog).toBeHidden();
    await expect(page.getByRole("link", { name: plan.name })).toBeVisible();
    // Kept for this tab only, under the agreed key.
    expect(await page.evaluate(() => sessionStorage.getItem("astro-runner-token"))).toBe(authAstro.token);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
  });

  test("keyboard: the skip link leads to the content, and links move focus to the new page", async ({ page, astro, target }) => {
    const plan = await createPlan(astro.client, planBody(target.baseUrl, { name: uniqueName("web-keys") }));
    await page.goto("/");
    await expect(page.getByRole("link", { name: "Overview" })).toHaveAttribute("aria-current", "page");
    await page.keyboard.press("Tab");
    await expect(page.getByRole("link", { name: "Skip to content" })).toBeFocused();
    await page.keyboard.press("Enter");
    await expect(page.locator("main#main")).toBeFocused();
    // Following a plan link by keyboard opens the plan and puts focus on its content.
    await page.getByRole("link", { name: plan.name, exact: true }).focus();
    await page.keyboard.press("Enter");
    await expect(page.getByRole("heading", { name: plan.name, level: 1 })).toBeVisible();
    await expect(page.locator("main#main")).toBeFocused();
    await expect(page).toHaveTitle(`${plan.name} · astro-runner`);
  });
});
