// Type-level tests: this file must compile under tsc --strict; the
// runtime test only keeps node --test from treating it as empty.
//
// It pins down what the spec promises generated clients: a plan body may
// leave out every field with a server-side default (timeout_ms,
// capture.group), Execution.result is nullable, the JSON report has one
// body type, update-plan requires If-Match, and an execution names its job.
import assert from "node:assert/strict";
import { it } from "node:test";

import type { AstroClient, Execution, ExecutionResult, PlanBody } from "../src/index.js";

/** minimalPlan omits every field the server fills in: timeout_ms, retries, capture.group, ... */
export const minimalPlan: PlanBody = {
  name: "minimal",
  document: {
    steps: [
      {
        name: "Create a user",
        request: { method: "POST", url: "http://127.0.0.1:9/users", body: { name: "Ada" } },
        capture: [{ name: "user_id", jsonpath: "$.id" }],
      },
    ],
  },
};

/** queued is what the server sends before a run finishes: result is null. */
export const queued: Pick<Execution, "result" | "finished_at"> = { result: null, finished_at: null };

/**
 * jobOf reads the job's id, so GET /job/{id} can be reached from an
 * execution; it is null once the finished job has been pruned.
 */
export function jobOf(exec: Execution): number | null {
  return exec.job_id;
}

/** jsonReport needs no narrowing: the JSON report has one body type. */
export async function jsonReport(client: AstroClient, id: string): Promise<ExecutionResult | undefined> {
  const { data } = await client.GET("/execution/{id}/report", { params: { path: { id } } });
  return data;
}

/** updateWithoutIfMatch must not compile: If-Match is required. */
export async function updateWithoutIfMatch(client: AstroClient, id: string): Promise<void> {
  // @ts-expect-error If-Match is required by update-plan.
  await client.PUT("/plan/{id}", { params: { path: { id } }, body: minimalPlan });
}

it("builds a plan body without the server-filled fields", () => {
  assert.equal(minimalPlan.document.steps[0]?.timeout_ms, undefined);
  assert.equal(queued.result, null);
});
