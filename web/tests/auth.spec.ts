// The token prompt, on the shared server with ASTRO_API_TOKEN: the page asks
// once, keeps the token in sessionStorage only (this tab), sends it as a
// bearer token, and still works after a reload.
import { expect, test, TOKEN_KEY, withToken } from "./harness.js";

test.describe("API token", () => {
  test("asked once, kept for the tab, works after a reload", async ({ page, authAstro }) => {
    await page.goto(`${authAstro.baseUrl}/ui/queue`);
    const dialog = page.getByRole("dialog", { name: "API token needed" });
    await expect(dialog).toBeVisible();
    await expect(page.getByRole("region", { name: "Jobs by queue and state" })).toContainText("needs an API token");

    // A wrong token is refused: the prompt comes back and says so.
    await dialog.getByLabel("Token").fill("not-the-token");
    await dialog.getByRole("button", { name: "Use token" }).click();
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText("did not accept the stored token");

    await dialog.getByLabel("Token").fill(authAstro.token);
    await dialog.getByRole("button", { name: "Use token" }).click();
    await expect(dialog).toBeHidden();
    await expect(page.getByRole("region", { name: "Jobs by queue and state" }).getByRole("alert")).toHaveCount(0);
    await expect(page.getByRole("region", { name: "Jobs by queue and state" })).not.toContainText("needs an API token");
    expect(await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY)).toBe(authAstro.token);
    expect(await page.evaluate((k) => localStorage.getItem(k), TOKEN_KEY)).toBeNull();
    expect(await page.evaluate(() => document.cookie)).toBe("");

    // Every call now carries the token; moving around and reloading never asks again.
    const unauthorised: string[] = [];
    page.on("response", (res) => {
      if (res.status() === 401) unauthorised.push(res.url());
    });
    await page.getByRole("link", { name: "Environments" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Environments" })).toBeVisible();
    await expect(page.getByRole("region", { name: "All environments" }).getByRole("status").filter({ hasText: /^Loading/ })).toHaveCount(0);
    await page.reload();
    await expect(page.getByRole("heading", { level: 1, name: "Environments" })).toBeVisible();
    await expect(page.getByRole("region", { name: "All environments" }).getByRole("status").filter({ hasText: /^Loading/ })).toHaveCount(0);
    await expect(page.getByRole("region", { name: "All environments" })).not.toContainText("needs an API token");
    await expect(dialog).toBeHidden();
    expect(unauthorised).toEqual([]);

    // "Forget token" removes it; the next call asks again.
    await page.getByRole("button", { name: "Forget token" }).click();
    expect(await page.evaluate((k) => sessionStorage.getItem(k), TOKEN_KEY)).toBeNull();
    await expect(dialog).toBeVisible();
  });

  test("another tab does not share the token", async ({ browser, authAstro }) => {
    const first = await browser.newContext();
    const second = await browser.newContext();
    try {
      await withToken(first, authAstro.token);
      const a = await first.newPage();
      await a.goto(`${authAstro.baseUrl}/ui/secrets`);
      await expect(a.getByRole("heading", { level: 1, name: "Secrets" })).toBeVisible();
      await expect(a.getByRole("region", { name: "Stored secrets" })).toBeVisible();
      await expect(a.getByRole("dialog", { name: "API token needed" })).toBeHidden();

      const b = await second.newPage();
      await b.goto(`${authAstro.baseUrl}/ui/secrets`);
      await expect(b.getByRole("dialog", { name: "API token needed" })).toBeVisible();
    } finally {
      await first.close();
      await second.close();
    }
  });

  test("static files need no token, the API does", async ({ request, authAstro }) => {
    const index = await request.get(`${authAstro.baseUrl}/ui/queue`);
    expect(index.status()).toBe(200);
    expect(index.headers()["content-type"]).toContain("text/html");
    expect(index.headers()["content-security-policy"]).toContain("default-src 'self'");
    const api = await request.get(`${authAstro.baseUrl}/queue/stats`);
    expect(api.status()).toBe(401);
  });
});
