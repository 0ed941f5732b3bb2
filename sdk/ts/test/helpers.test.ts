// Tests of the convenience layer against a scripted fetch: polling until a
// final status, the wait's bounds, and problems from bodies that are not
// problem documents.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  createAstroClient,
  isProblemError,
  MAX_PROBLEM_TEXT,
  ProblemError,
  UnexpectedResponseError,
  type Execution,
} from "../src/index.js";

const planId = "0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d";
const execId = "0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f";

function execution(status: Execution["status"]): Execution {
  // The cast lets the fixture carry job_id, which the spec is gaining.
  return {
    id: execId,
    job_id: 42,
    plan_id: planId,
    plan_revision: 1,
    status,
    attempt: status === "queued" ? 0 : 1,
    created_at: "2025-01-02T15:04:05Z",
    started_at: null,
    finished_at: null,
    result: null,
  } as Execution;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** scripted returns a fetch that answers the execute call, then each poll with the next status. */
function scripted(statuses: Execution["status"][], seen: Request[]) {
  let polls = 0;
  return async (req: Request): Promise<Response> => {
    seen.push(req);
    if (req.method === "POST") return json(202, execution("queued"));
    const status = statuses[Math.min(polls, statuses.length - 1)] ?? "running";
    polls++;
    return json(200, execution(status));
  };
}

describe("runPlan", { timeout: 10_000 }, () => {
  it("polls until the execution reaches a final status", async () => {
    const seen: Request[] = [];
    const client = createAstroClient({
      baseUrl: "http://127.0.0.1:9",
      token: "secret",
      fetch: scripted(["queued", "running", "running", "failed"], seen),
    });
    const exec = await client.runPlan(planId, { idempotencyKey: "k1", pollMs: 1 });
    assert.equal(exec.status, "failed");
    assert.equal(seen.length, 5, "one execute and four polls");
    assert.equal(seen[0]?.headers.get("Idempotency-Key"), "k1");
    assert.ok(seen.every((r) => r.headers.get("Authorization") === "Bearer secret"));
    assert.ok(seen.slice(1).every((r) => new URL(r.url).pathname === `/execution/${execId}`));
  });

  it("rejects with a TimeoutError when timeoutMs passes first", async () => {
    const client = createAstroClient({ baseUrl: "http://127.0.0.1:9", fetch: scripted(["running"], []) });
    await assert.rejects(client.runPlan(planId, { pollMs: 1, timeoutMs: 20 }), { name: "TimeoutError" });
  });

  it("stops when the caller's signal aborts during the wait", async () => {
    const ctl = new AbortController();
    let polls = 0;
    const client = createAstroClient({
      baseUrl: "http://127.0.0.1:9",
      fetch: async (req) => {
        if (req.method === "POST") return json(202, execution("queued"));
        if (++polls === 3) ctl.abort(new Error("caller gave up"));
        return json(200, execution("running"));
      },
    });
    await assert.rejects(client.runPlan(planId, { pollMs: 1, signal: ctl.signal }), /caller gave up/);
    assert.equal(polls, 3);
  });
});

describe("ProblemError", () => {
  it("keeps a problem document's fields", async () => {
    const client = createAstroClient({
      baseUrl: "http://127.0.0.1:9",
      fetch: async () =>
        new Response(
          JSON.stringify({
            title: "Unprocessable Entity",
            status: 422,
            detail: "validation failed",
            errors: [{ location: "body.name", message: "expected length >= 1" }],
          }),
          { status: 422, headers: { "Content-Type": "application/problem+json" } },
        ),
    });
    const err = await client.runPlan(planId).catch((e: unknown) => e);
    assert.ok(err instanceof ProblemError);
    assert.ok(isProblemError(err, 422));
    assert.equal(isProblemError(err, 404), false);
    assert.equal(err.detail, "validation failed");
    assert.equal(err.errors[0]?.location, "body.name");
    assert.equal(err.message, "422 Unprocessable Entity: validation failed");
  });

  it("describes a body that is not a problem document", async () => {
    const client = createAstroClient({
      baseUrl: "http://127.0.0.1:9",
      fetch: async () => new Response("upstream down", { status: 502, statusText: "Bad Gateway" }),
    });
    const err = await client.runPlan(planId).catch((e: unknown) => e);
    assert.ok(isProblemError(err, 502));
    assert.equal(err.title, "Bad Gateway");
    assert.equal(err.detail, "upstream down");
    assert.deepEqual(err.errors, []);
    assert.equal(err.problem, undefined);
  });
});

describe("runPlan's timeoutMs", { timeout: 10_000 }, () => {
  it("bounds an execute request that never answers", async () => {
    const seen: Request[] = [];
    const client = createAstroClient({
      baseUrl: "http://127.0.0.1:9",
      // A fetch that never settles, whatever the request's signal says.
      fetch: (req) => {
        seen.push(req);
        return new Promise<Response>(() => {});
      },
    });
    // Node's timeout signal does not keep the process alive, an open socket does: stand in for it.
    const socket = setInterval(() => {}, 1000);
    try {
      await assert.rejects(client.runPlan(planId, { timeoutMs: 200 }), { name: "TimeoutError" });
    } finally {
      clearInterval(socket);
    }
    assert.equal(seen.length, 1, "only the execute request");
    assert.equal(seen[0]?.signal.aborted, true, "the execute request was aborted");
  });
});

describe("the wait's retries", { timeout: 10_000 }, () => {
  /** answers returns a fetch that answers the execute call, then each poll with the next answer. */
  function answers(polls: (() => Response)[], seen: Request[]) {
    return async (req: Request): Promise<Response> => {
      seen.push(req);
      if (req.method === "POST") return json(202, execution("queued"));
      const n = seen.filter((r) => r.method === "GET").length;
      const answer = polls[Math.min(n, polls.length) - 1];
      assert.ok(answer);
      return answer();
    };
  }
  const text = (status: number) => () => new Response("restarting", { status });
  const exec = (status: Execution["status"]) => () => json(200, execution(status));
  const refused = () => {
    throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
  };

  it("retries a poll answered 503, twice, then follows the execution", async () => {
    const seen: Request[] = [];
    const client = createAstroClient({
      baseUrl: "http://127.0.0.1:9",
      fetch: answers([text(503), text(503), exec("passed")], seen),
    });
    const done = await client.runPlan(planId, { pollMs: 1 });
    assert.equal(done.status, "passed");
    assert.equal(seen.length, 4, "one execute and three polls");
  });

  it("retries 502, 504 and network errors in waitExecution", async () => {
    const seen: Request[] = [];
    const client = createAstroClient({
      baseUrl: "http://127.0.0.1:9",
      fetch: answers([exec("running"), text(502), refused, text(504), exec("failed")], seen),
    });
    const done = await client.waitExecution(execId, { pollMs: 1 });
    assert.equal(done.status, "failed");
    assert.equal(seen.length, 5);
  });

  it("ends at once on a 404 or a 500", async () => {
    for (const status of [404, 500]) {
      const seen: Request[] = [];
      const client = createAstroClient({
        baseUrl: "http://127.0.0.1:9",
        fetch: answers([text(status), exec("passed")], seen),
      });
      const err = await client.waitExecution(execId, { pollMs: 1 }).catch((e: unknown) => e);
      assert.ok(isProblemError(err, status), `status ${status}: ${String(err)}`);
      assert.equal(seen.length, 1, `status ${status}: one poll`);
    }
  });

  it("never retries the execute request", async () => {
    const seen: Request[] = [];
    const client = createAstroClient({
      baseUrl: "http://127.0.0.1:9",
      fetch: async (req) => {
        seen.push(req);
        return new Response("restarting", { status: 503 });
      },
    });
    const err = await client.runPlan(planId, { pollMs: 1 }).catch((e: unknown) => e);
    assert.ok(isProblemError(err, 503));
    assert.equal(seen.length, 1);
  });

  it("retries until timeoutMs ends the wait", async () => {
    const client = createAstroClient({ baseUrl: "http://127.0.0.1:9", fetch: answers([refused], []) });
    await assert.rejects(client.waitExecution(execId, { pollMs: 1, timeoutMs: 50 }), { name: "TimeoutError" });
  });
});

describe("a 2xx answer that is not JSON", () => {
  const html = async () => new Response("<html>login</html>", { status: 200, headers: { "Content-Type": "text/html" } });

  it("rejects runPlan with an UnexpectedResponseError naming status and content type", async () => {
    const client = createAstroClient({ baseUrl: "http://127.0.0.1:9", fetch: html });
    const err = await client.runPlan(planId).catch((e: unknown) => e);
    assert.ok(err instanceof UnexpectedResponseError, String(err));
    assert.equal(err.status, 200);
    assert.equal(err.contentType, "text/html");
    assert.equal(err.detail, "<html>login</html>");
    assert.match(err.message, /200/);
    assert.match(err.message, /text\/html/);
  });

  it("rejects a generated call the same way, and leaves text calls alone", async () => {
    const client = createAstroClient({ baseUrl: "http://127.0.0.1:9", fetch: html });
    const call = client.GET("/execution/{id}", { params: { path: { id: execId } } });
    await assert.rejects(call, UnexpectedResponseError);
    assert.equal(await client.junitReport(execId), "<html>login</html>");
  });
});

describe("ProblemError's detail from a body that is not a problem document", () => {
  async function detailOf(body: string): Promise<string> {
    const client = createAstroClient({
      baseUrl: "http://127.0.0.1:9",
      fetch: async () => new Response(body, { status: 502, statusText: "Bad Gateway" }),
    });
    const err = await client.runPlan(planId).catch((e: unknown) => e);
    assert.ok(isProblemError(err, 502));
    return err.detail;
  }

  it("is cut to MAX_PROBLEM_TEXT bytes, as in the Go SDK", async () => {
    const long = "x".repeat(MAX_PROBLEM_TEXT + 10);
    assert.equal(await detailOf(long), long.slice(0, MAX_PROBLEM_TEXT) + "…");
    assert.equal(await detailOf("x".repeat(MAX_PROBLEM_TEXT)), "x".repeat(MAX_PROBLEM_TEXT), "at the limit: whole");
  });

  it("never cuts a character in half", async () => {
    // é is two bytes: the limit falls between them after 255.5 characters.
    const accents = "a" + "é".repeat(MAX_PROBLEM_TEXT);
    assert.equal(await detailOf(accents), "a" + "é".repeat((MAX_PROBLEM_TEXT - 2) / 2) + "…");
  });
});
