/**
 * overview.ts loads what the overview page shows from GET /overview: one
 * page of plans, each with its latest status, its last 20 runs and its 24 h
 * totals, and (on the first page) the plans failing now.
 */
import { api, unwrap, type components } from "./api";
import type { RunSummary } from "./components/RunStrip";

type FailingPlan = components["schemas"]["FailingPlan"];

/** OverviewPlan is one plan's row. */
export interface OverviewPlan {
  id: string;
  name: string;
  /** latestStatus is the status of the newest execution, or null without one. */
  latestStatus: string | null;
  /** recent are the last runs, newest first (at most 20). */
  recent: RunSummary[];
  /** runs24h are the executions that finished in the last 24 hours. */
  runs24h: number;
  /** passRate24h is passed / (passed + failed + error) over 24 h, or null without such runs. */
  passRate24h: number | null;
  /** failingSince is when the plan started failing, if its latest finished run failed or errored. */
  failingSince: string | null;
}

/** OverviewData is one page of the overview. */
export interface OverviewData {
  plans: OverviewPlan[];
  /** failing are every plan failing now (not only this page's), longest failing first; empty after the first page. */
  failing: readonly FailingPlan[];
  /** nextCursor loads the next page of plans; empty on the last page. */
  nextCursor: string;
}

/** RECENT_RUNS is how many runs the strip shows per plan (the API's number). */
export const RECENT_RUNS = 20;

/** PAGE_PLANS is how many plans one overview page holds (the API's largest page). */
export const PAGE_PLANS = 100;

/** sortOverview puts the failing plans first (longest failing first), then the others by name. */
export function sortOverview(plans: OverviewPlan[]): OverviewPlan[] {
  return [...plans].sort((a, b) => {
    if (a.failingSince && b.failingSince) return a.failingSince.localeCompare(b.failingSince);
    if (a.failingSince) return -1;
    if (b.failingSince) return 1;
    return a.name.localeCompare(b.name);
  });
}

/**
 * failingSinceOf returns when the plan's current streak of failed or
 * errored runs began, from the failing list, or null if it is not in it.
 */
function failingSinceOf(failing: readonly FailingPlan[], planId: string): string | null {
  return failing.find((f) => f.plan_id === planId)?.failing_since ?? null;
}

/** loadOverview loads one page of GET /overview. */
export async function loadOverview(cursor: string, signal: AbortSignal, failingKnown: readonly FailingPlan[] = []): Promise<OverviewData> {
  const page = await unwrap(api().GET("/overview", { params: { query: { limit: PAGE_PLANS, cursor } }, signal }));
  // Later pages carry no failing list: use the first page's.
  const failing = cursor === "" ? page.failing : failingKnown;
  const plans = page.plans.map(
    (p): OverviewPlan => ({
      id: p.plan_id,
      name: p.name,
      latestStatus: p.latest_status,
      recent: p.recent,
      runs24h: p.totals.runs,
      passRate24h: p.totals.pass_rate,
      failingSince: failingSinceOf(failing, p.plan_id),
    }),
  );
  return { plans: sortOverview(plans), failing, nextCursor: page.next_cursor };
}
