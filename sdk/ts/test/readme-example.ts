// The README's TypeScript example, compiled and run by client.test.ts. It
// imports the package by its name (a self-reference through "exports"), as
// a user's code would. internal/sdkcheck checks that the README's SDK
// section shows the lines between the markers.
import { createAstroClient, unwrap, type PlanBody } from "@astro-runner/client";

/** runExample creates the plan, runs it, waits, and tells whether it passed. */
export async function runExample(baseUrl: string, body: PlanBody): Promise<boolean> {
  // README:begin
  const client = createAstroClient({ baseUrl, token: process.env.ASTRO_API_TOKEN });
  const plan = await unwrap(client.POST("/plan", { body }));
  const exec = await client.runPlan(plan.id, { timeoutMs: 60_000 });
  console.log(exec.status, exec.result?.totals);
  const junit = await client.junitReport(exec.id); // write it where CI looks for reports
  return exec.status === "passed" && junit.includes("<testsuite");
  // README:end
}
