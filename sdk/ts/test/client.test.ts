// End-to-end tests of the SDK against a real astro-runner binary on a
// loopback port: the same scenario as the Go SDK's tests.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";

import {
  createAstroClient,
  isProblemError,
  ProblemError,
  unwrap,
  type AstroClient,
  type PlanBody,
} from "../src/index.js";
import { runExample } from "./readme-example.js";
import { startServer, startTarget, type RunningServer, type Target } from "./server.js";

/** planBody is a one-step plan against the target's /health, labelled with suite. */
function planBody(name: string, target: Target, suite: string): PlanBody {
  return {
    name,
    labels: { suite },
    document: {
      variables: { base_url: target.baseUrl },
      steps: [
        {
          name: "Health check",
          request: { method: "GET", url: "{{base_url}}/health" },
          assert: { status: [200], jsonpath: [{ path: "$.status", equals: "healthy" }] },
        },
      ],
    },
  };
}

/** expectProblem asserts that call rejects with a ProblemError of status and returns it. */
async function expectProblem(call: Promise<unknown>, status: number): Promise<ProblemError> {
  try {
    await call;
  } catch (err) {
    assert.ok(isProblemError(err), `want ProblemError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    return err;
  }
  assert.fail(`want a ${status} ProblemError, the call succeeded`);
}

describe("astro-runner client", { timeout: 600_000 }, () => {
  let server: RunningServer;
  let target: Target;
  let client: AstroClient;
  const suite = randomUUID().slice(0, 8);

  before(async () => {
    target = await startTarget();
    server = await startServer();
    client = createAstroClient({ baseUrl: server.baseUrl });
  });
  after(async () => {
    await server?.stop();
    await target?.close();
  });

  it("creates plans and lists them page by page with the cursor", async () => {
    const names = ["list-a", "list-b", "list-c"].map((n) => `${n}-${suite}`);
    for (const name of names) {
      const plan = await unwrap(client.POST("/plan", { body: planBody(name, target, suite) }));
      assert.equal(plan.name, name);
      assert.equal(plan.revision, 1);
    }

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await unwrap(
        client.GET("/plan", { params: { query: { label: [`suite:${suite}`], limit: 1, cursor } } }),
      );
      const plans = page.plans ?? [];
      assert.ok(plans.length <= 1, `page of ${plans.length} plans with limit=1`);
      seen.push(...plans.map((p) => p.name));
      cursor = page.next_cursor || undefined;
      pages++;
      assert.ok(pages <= 10, "the cursor does not end");
    } while (cursor);
    assert.deepEqual(seen.sort(), [...names].sort());
  });

  it("updates a plan with If-Match and rejects a stale revision with 412", async () => {
    const created = await unwrap(
      client.POST("/plan", { body: planBody(`update-${suite}`, target, `${suite}-u`) }),
    );
    const got = await client.GET("/plan/{id}", { params: { path: { id: created.id } } });
    const etag = got.response.headers.get("ETag");
    assert.ok(etag, "GET /plan/{id} sends an ETag");

    const body = { ...planBody(`update-${suite}`, target, `${suite}-u`), description: "updated" };
    const updated = await unwrap(
      client.PUT("/plan/{id}", { params: { path: { id: created.id }, header: { "If-Match": etag } }, body }),
    );
    assert.equal(updated.revision, 2);
    assert.equal(updated.description, "updated");

    const stale = await expectProblem(
      unwrap(client.PUT("/plan/{id}", { params: { path: { id: created.id }, header: { "If-Match": etag } }, body })),
      412,
    );
    assert.equal(stale.title, "Precondition Failed");
  });

  it("executes with an Idempotency-Key, waits, reports JSON and JUnit, and refuses to cancel a finished run", async () => {
    const plan = await unwrap(client.POST("/plan", { body: planBody(`run-${suite}`, target, `${suite}-r`) }));

    const key = `key-${suite}`;
    const execute = () =>
      unwrap(
        client.POST("/plan/{id}/execute", {
          params: { path: { id: plan.id }, header: { "Idempotency-Key": key } },
        }),
      );
    const first = await execute();
    const second = await execute();
    assert.equal(second.id, first.id, "the same Idempotency-Key gives the same execution");

    const exec = await client.runPlan(plan.id, { idempotencyKey: `run-${suite}`, timeoutMs: 60_000 });
    assert.equal(exec.status, "passed");
    assert.notEqual(exec.id, first.id);
    assert.ok(exec.result, "a finished execution has a result");
    assert.equal(exec.result.status, "passed");

    const report = await unwrap(
      client.GET("/execution/{id}/report", { params: { path: { id: exec.id } } }),
    );
    assert.equal(report.status, "passed");
    assert.equal(report.steps?.length, 1);
    assert.equal(report.steps?.[0]?.status, "passed");

    const xml = await client.junitReport(exec.id);
    assert.match(xml, /^<\?xml/);
    assert.match(xml, /<testsuite[^>]*\btests="1"/);

    const finished = await client.waitExecution(first.id, { timeoutMs: 60_000 });
    assert.equal(finished.status, "passed");

    const cancel = await expectProblem(
      unwrap(client.POST("/execution/{id}/cancel", { params: { path: { id: exec.id } } })),
      409,
    );
    assert.equal(cancel.title, "Conflict");
  });

  it("turns a 404 into a ProblemError", async () => {
    const missing = await expectProblem(
      unwrap(client.GET("/plan/{id}", { params: { path: { id: randomUUID() } } })),
      404,
    );
    assert.equal(missing.title, "Not Found");
    await expectProblem(client.runPlan(randomUUID()), 404);
  });

  it("turns a 422 into a ProblemError with errors[].location", async () => {
    const invalid = await expectProblem(
      unwrap(client.POST("/plan", { body: { ...planBody("", target, suite) } })),
      422,
    );
    assert.ok(
      invalid.errors.some((e) => e.location === "body.name"),
      `want an error at body.name, got ${JSON.stringify(invalid.errors)}`,
    );
  });

  it("runs the README example", async () => {
    assert.equal(await runExample(server.baseUrl, planBody(`readme-${suite}`, target, `${suite}-e`)), true);
  });

  it("stops waiting when the signal aborts", async () => {
    const plan = await unwrap(client.POST("/plan", { body: planBody(`abort-${suite}`, target, `${suite}-a`) }));
    const ctl = new AbortController();
    ctl.abort(new Error("stop waiting"));
    await assert.rejects(client.runPlan(plan.id, { signal: ctl.signal }), /stop waiting/);
  });
});

describe("astro-runner client with ASTRO_API_TOKEN", { timeout: 600_000 }, () => {
  const token = `token-${randomUUID()}`;
  let server: RunningServer;

  before(async () => {
    server = await startServer({ token });
  });
  after(async () => {
    await server?.stop();
  });

  it("is rejected with 401 without the token", async () => {
    const anonymous = createAstroClient({ baseUrl: server.baseUrl });
    await expectProblem(unwrap(anonymous.GET("/plan", {})), 401);
  });

  it("is rejected with 401 with a wrong token", async () => {
    const wrong = createAstroClient({ baseUrl: server.baseUrl, token: "wrong" });
    await expectProblem(unwrap(wrong.GET("/plan", {})), 401);
  });

  it("is accepted with the token", async () => {
    const authed = createAstroClient({ baseUrl: server.baseUrl, token });
    const page = await unwrap(authed.GET("/plan", {}));
    assert.deepEqual(page.plans ?? [], []);
  });
});
