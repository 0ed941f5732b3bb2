/**
 * overview.ts loads what the overview page shows: every plan with its latest
 * status, its last 20 runs and its 24 h pass rate, the plans failing now,
 * and the queue.
 */
import { api, unwrap, type Execution } from "./api";
import type { RunSummary } from "./components/RunStrip";
import { durationBetween } from "./format";

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
  /** passed24h are those of them that passed. */
  passed24h: number;
  /** passRate24h is passed / (passed + failed + error) over 24 h, or null without such runs. */
  passRate24h: number | null;
  /** failingSince is when the plan started failing, if its latest finished run failed or errored. */
  failingSince: string | null;
}

/** OverviewData is one page of the overview. */
export interface OverviewData {
  plans: OverviewPlan[];
  /** nextCursor loads the next page of plans; empty on the last page. */
  nextCursor: string;
}

/** RECENT_RUNS is how many runs the strip shows per plan. */
export const RECENT_RUNS = 20;

/** PAGE_PLANS is how many plans one overview page holds. */
export const PAGE_PLANS = 50;

const FAILING = new Set(["failed", "error"]);
const FINISHED = new Set(["passed", "failed", "error", "cancelled"]);

/** runSummary reduces an execution to what the strip shows. */
export function runSummary(e: Execution): RunSummary {
  return {
    id: e.id,
    status: e.status,
    trigger: e.trigger,
    created_at: e.created_at,
    finished_at: e.finished_at,
    duration_ms: e.result?.totals?.duration_ms ?? durationBetween(e.started_at, e.finished_at) ?? null,
  };
}

/**
 * failingSinceOf returns when the unbroken streak of failed or errored
 * runs that ends with the latest finished run began (the creation time of
 * its oldest run), or null when the latest finished run did not fail.
 * Runs still queued or running, and cancelled ones, are stepped over.
 * runs are newest first.
 */
export function failingSinceOf(runs: readonly RunSummary[]): string | null {
  let since: string | null = null;
  for (const r of runs) {
    if (!FINISHED.has(r.status) || r.status === "cancelled") continue;
    if (!FAILING.has(r.status)) break;
    since = r.created_at;
  }
  return since;
}

/** sortOverview puts the failing plans first (longest failing first), then the others by name. */
export function sortOverview(plans: OverviewPlan[]): OverviewPlan[] {
  return [...plans].sort((a, b) => {
    if (a.failingSince && b.failingSince) return a.failingSince.localeCompare(b.failingSince);
    if (a.failingSince) return -1;
    if (b.failingSince) return 1;
    return a.name.localeCompare(b.name);
  });
}

/** mapLimit runs fn over items with at most limit calls at once, keeping the order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * loadOverview loads one page of plans and, for each, its last runs
 * (GET /execution?plan_id=) and its 24 h totals (GET /plan/{id}/stats).
 */
export async function loadOverview(cursor: string, signal: AbortSignal): Promise<OverviewData> {
  const c = api();
  const page = await unwrap(c.GET("/plan", { params: { query: { limit: PAGE_PLANS, cursor } }, signal }));
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const plans = await mapLimit(page.plans, 4, async (p): Promise<OverviewPlan> => {
    const [runs, stats] = await Promise.all([
      unwrap(c.GET("/execution", { params: { query: { plan_id: p.id, limit: RECENT_RUNS } }, signal })),
      unwrap(c.GET("/plan/{id}/stats", { params: { path: { id: p.id }, query: { since, bucket: "24h" } }, signal })),
    ]);
    const recent = runs.executions.map(runSummary);
    return {
      id: p.id,
      name: p.name,
      latestStatus: recent[0]?.status ?? null,
      recent,
      runs24h: stats.totals.runs,
      passed24h: stats.totals.passed,
      passRate24h: stats.totals.pass_rate,
      failingSince: failingSinceOf(recent),
    };
  });
  return { plans: sortOverview(plans), nextCursor: page.next_cursor };
}
