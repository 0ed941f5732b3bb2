// Environments, secrets and channels, driven through the pages on the
// shared open server: create, edit (with a stale revision refused), delete,
// secrets' values never shown, and a channel's "Send test" reaching a
// receiver on 127.0.0.1.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { unwrap } from "@astro-runner/client";
import { expect, test, uniqueName } from "./harness.js";

test.describe("environments", () => {
  test("create, edit, refuse a stale edit, and delete", async ({ page, astro }) => {
    const name = uniqueName("env");
    await page.goto("/ui/environments");
    const form = page.getByRole("region", { name: "New environment" });

    // Variables that are not a JSON object are refused before anything is sent.
    await form.getByLabel("Name").fill(name);
    await form.getByLabel("Description").fill("Made by the browser test.");
    await form.getByLabel("Variables").fill("[1, 2]");
    await form.getByRole("button", { name: "Create environment" }).click();
    await expect(form.getByText("Variables: must be a JSON object")).toBeVisible();
    await expect(form.getByLabel("Variables")).toHaveAttribute("aria-invalid", "true");

    // A name the API refuses shows the API's message next to the name.
    await form.getByLabel("Name").fill("Not A Valid Name");
    await form.getByLabel("Variables").fill('{"base_url": "http://127.0.0.1:9"}');
    await form.getByRole("button", { name: "Create environment" }).click();
    await expect(form.getByRole("alert")).toContainText("422");
    await expect(form.getByLabel("Name")).toHaveAttribute("aria-invalid", "true");

    await form.getByLabel("Name").fill(name);
    await form.getByRole("button", { name: "Create environment" }).click();
    await expect(page.getByRole("status").filter({ hasText: `Created environment ${name}.` })).toBeVisible();
    const row = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name }) });
    await expect(row).toContainText("base_url");
    await expect(row).toContainText("Made by the browser test.");

    // Edit: change the variables; the revision goes to 2.
    await row.getByRole("button", { name: `Edit ${name}` }).click();
    const edit = page.getByRole("region", { name: `Edit ${name}` });
    await expect(edit.getByLabel("Description")).toBeFocused();
    await expect(edit.getByLabel("Variables")).toHaveValue(/127\.0\.0\.1:9/);
    await edit.getByLabel("Variables").fill('{"base_url": "http://127.0.0.1:10", "region": "eu"}');
    await edit.getByRole("button", { name: "Save changes" }).click();
    await expect(page.getByRole("status").filter({ hasText: `Saved environment ${name} (revision 2).` })).toBeVisible();
    const stored = await unwrap(astro.client.GET("/environment/{name}", { params: { path: { name } } }));
    expect(stored.variables).toEqual({ base_url: "http://127.0.0.1:10", region: "eu" });
    expect(stored.revision).toBe(2);

    // Someone else changes it while the form is open: the save is refused, nothing is overwritten.
    await row.getByRole("button", { name: `Edit ${name}` }).click();
    await unwrap(
      astro.client.PUT("/environment/{name}", {
        params: { path: { name }, header: { "If-Match": '"2"' } },
        body: { description: "Changed elsewhere.", variables: {} },
      }),
    );
    await edit.getByLabel("Description").fill("Mine.");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await expect(edit.getByRole("alert")).toContainText(`Someone changed ${name} since you opened it.`);
    const after = await unwrap(astro.client.GET("/environment/{name}", { params: { path: { name } } }));
    expect(after.description).toBe("Changed elsewhere.");
    await edit.getByRole("button", { name: "Cancel" }).click();

    // Delete asks first; focus goes to Cancel, and back to Delete if cancelled.
    await row.getByRole("button", { name: `Delete ${name}` }).click();
    await expect(row.getByRole("button", { name: "Cancel" })).toBeFocused();
    await page.keyboard.press("Enter");
    await expect(row.getByRole("button", { name: `Delete ${name}` })).toBeFocused();
    await page.keyboard.press("Enter");
    await row.getByRole("button", { name: "Yes, delete" }).click();
    await expect(page.getByRole("status").filter({ hasText: `Deleted environment ${name}.` })).toBeVisible();
    await expect(page.getByRole("rowheader", { name })).toHaveCount(0);
    const gone = await astro.client.GET("/environment/{name}", { params: { path: { name } } });
    expect(gone.response.status).toBe(404);
  });
});

test.describe("secrets", () => {
  test("store, replace and delete a secret; its value is never on the page", async ({ page, astro }) => {
    const name = uniqueName("WEB_SECRET").replace(/-/g, "_").toUpperCase();
    const value = "first-" + uniqueName("value");
    const replaced = "second-" + uniqueName("value");
    await page.goto("/ui/secrets");
    const form = page.getByRole("region", { name: "Store a secret" });
    await expect(form.getByLabel("Value")).toHaveAttribute("type", "password");

    await form.getByLabel("Name").fill("1bad name");
    await form.getByLabel("Value").fill(value);
    await form.getByRole("button", { name: "Save secret" }).click();
    await expect(form.getByText("Letters, digits and _, not starting with a digit")).toBeVisible();

    await form.getByLabel("Name").fill(name);
    await form.getByRole("button", { name: "Save secret" }).click();
    await expect(page.getByRole("status").filter({ hasText: `Stored secret ${name}.` })).toBeVisible();
    await expect(form.getByLabel("Value")).toHaveValue("");
    const row = page.getByRole("row").filter({ has: page.getByRole("rowheader", { name }) });
    await expect(row).toContainText("hidden");
    expect(await page.content()).not.toContain(value);

    await row.getByRole("button", { name: `Replace value of ${name}` }).click();
    await expect(form.getByLabel("Name")).toHaveValue(name);
    await expect(form.getByLabel("Value")).toBeFocused();
    await form.getByLabel("Value").fill(replaced);
    await form.getByRole("button", { name: "Save secret" }).click();
    await expect(page.getByRole("status").filter({ hasText: `Replaced the value of ${name}.` })).toBeVisible();
    expect(await page.content()).not.toContain(replaced);

    const list = await unwrap(astro.client.GET("/secret"));
    expect(list.secrets.map((s) => s.name)).toContain(name);

    await row.getByRole("button", { name: `Delete ${name}` }).click();
    await row.getByRole("button", { name: "Yes, delete" }).click();
    await expect(page.getByRole("status").filter({ hasText: `Deleted secret ${name}.` })).toBeVisible();
    await expect(page.getByRole("rowheader", { name })).toHaveCount(0);
  });

  test("a server without ASTRO_SECRET_KEY says secrets are off", async ({ page, startAstro }) => {
    const own = await startAstro({ env: { ASTRO_SECRET_KEY: "" } });
    await page.goto(`${own.baseUrl}/ui/secrets`);
    await expect(page.getByRole("status").filter({ hasText: "Secrets are off on this server." })).toBeVisible();
    await expect(page.getByRole("region", { name: "Store a secret" })).toHaveCount(0);
  });
});

/** Receiver records the requests a channel sends it, on 127.0.0.1. */
interface Receiver {
  url: string;
  requests: { headers: IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

async function startReceiver(status: number): Promise<Receiver> {
  const requests: Receiver["requests"] = [];
  const srv: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      requests.push({ headers: req.headers, body });
      res.writeHead(status, { "Content-Type": "text/plain" }).end(status < 300 ? "ok" : "receiver says no");
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        srv.closeAllConnections();
        srv.close(() => resolve());
      }),
  };
}

test.describe("channels", () => {
  test("create a webhook channel, send a test, see the delivery, edit and delete it", async ({ page, astro }) => {
    const receiver = await startReceiver(200);
    try {
      const name = uniqueName("hook");
      await page.goto("/ui/channels");
      const form = page.getByRole("region", { name: "New channel" });
      await form.getByLabel("Name").fill(name);
      await form.getByLabel("URL").fill(receiver.url);
      await form.getByLabel("Signing secret").fill("a-signing-secret-of-32-bytes!!!!");
      await form.getByLabel("Extra headers").fill('{"X-Team": "web"}');
      await form.getByRole("button", { name: "Create channel" }).click();

      // The new channel's page.
      await expect(page.getByRole("heading", { level: 1, name: `Channel ${name}` })).toBeVisible();
      await expect(page).toHaveURL(/\/ui\/channels\/[0-9a-f-]{36}$/);
      const details = page.getByRole("region", { name: "Details" });
      await expect(details).toContainText("yes (X-Astro-Signature)");
      await expect(details).toContainText("X-Team");
      expect(await page.content()).not.toContain("a-signing-secret-of-32-bytes");
      await expect(page.getByText('No deliveries yet. "Send test" sends one now.')).toBeVisible();

      await page.getByRole("button", { name: "Send test" }).click();
      await expect(page.getByRole("status").filter({ hasText: "Test message delivered" })).toContainText("HTTP 200");
      expect(receiver.requests).toHaveLength(1);
      expect(receiver.requests[0]?.headers["x-astro-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(receiver.requests[0]?.headers["x-team"]).toBe("web");
      const deliveries = page.getByRole("region", { name: "Deliveries" });
      await expect(deliveries.getByRole("cell", { name: "test", exact: true })).toBeVisible();
      await expect(deliveries.getByText("delivered")).toBeVisible();

      // Edit: rename, keep the secret and headers (left empty).
      const edit = page.getByRole("region", { name: "Edit" });
      const renamed = name + "-2";
      await edit.getByLabel("Name").fill(renamed);
      await edit.getByRole("button", { name: "Save changes" }).click();
      await expect(page.getByRole("heading", { level: 1, name: `Channel ${renamed}` })).toBeVisible();
      await expect(page.getByRole("status").filter({ hasText: "Saved (revision 2)." })).toBeVisible();
      await expect(details).toContainText("yes (X-Astro-Signature)");
      await expect(details).toContainText("X-Team");

      await page.getByRole("button", { name: "Delete" }).click();
      await page.getByRole("button", { name: "Yes, delete" }).click();
      await expect(page).toHaveURL(/\/ui\/channels$/);
      await expect(page.getByRole("heading", { level: 1, name: "Channels" })).toBeVisible();
      await expect(page.getByRole("link", { name: renamed })).toHaveCount(0);
      const list = await unwrap(astro.client.GET("/channel", { params: { query: { limit: 100 } } }));
      expect(list.channels.map((c) => c.name)).not.toContain(renamed);
    } finally {
      await receiver.close();
    }
  });

  test("a test message the receiver refuses is shown as not delivered, with its answer", async ({ page, astro }) => {
    const receiver = await startReceiver(500);
    try {
      const ch = await unwrap(astro.client.POST("/channel", { body: { name: uniqueName("failing-hook"), kind: "webhook", url: receiver.url } }));
      await page.goto(`/ui/channels/${ch.id}`);
      await page.getByRole("button", { name: "Send test" }).click();
      const outcome = page.getByRole("status").filter({ hasText: "Test message not delivered" });
      await expect(outcome).toContainText("HTTP 500");
      await expect(outcome).toContainText("receiver says no");
    } finally {
      await receiver.close();
    }
  });

  test("a URL the network policy blocks is refused next to the URL field", async ({ page }) => {
    await page.goto("/ui/channels");
    const form = page.getByRole("region", { name: "New channel" });
    await form.getByLabel("Name").fill(uniqueName("blocked"));
    await form.getByLabel("URL").fill("http://169.254.169.254/latest");
    await form.getByRole("button", { name: "Create channel" }).click();
    await expect(form.getByRole("alert")).toContainText("422");
    await expect(form.getByLabel("URL")).toHaveAttribute("aria-invalid", "true");
  });
});
