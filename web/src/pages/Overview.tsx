/**
 * OverviewPage is the landing page: the plans failing now first, then every
 * plan with its latest status, its last 20 runs and its 24 h pass rate; the
 * 24 h totals; and the queue's counts by state.
 */
import type { ComponentChildren } from "preact";
import { useRef, useState } from "preact/hooks";
import { api, unwrap, type components } from "../api";
import { ErrorView, Loading } from "../components/ErrorView";
import { PageHeader } from "../components/Layout";
import { RunStrip } from "../components/RunStrip";
import { StatusBadge } from "../components/StatusBadge";
import { formatAgo, formatDuration, formatPercent, formatTime } from "../format";
import { executionHref, NEW_PLAN_HREF, planHref, queueHref } from "../links";
import { loadOverview, RECENT_RUNS, type OverviewPlan } from "../overview";
import { useResource } from "../resource";

type FailingPlan = components["schemas"]["FailingPlan"];

/** JOB_STATES are the queue's job states, in the order the overview shows them. */
const JOB_STATES = ["available", "running", "retryable", "completed", "discarded", "cancelled"] as const;

/** POLL_MS is how often the overview refreshes. */
const POLL_MS = 10_000;

/** OverviewPage renders the overview. */
export function OverviewPage() {
  const [cursors, setCursors] = useState<string[]>([""]);
  const cursor = cursors[cursors.length - 1] ?? "";
  // The failing list comes with the first page only; later pages reuse it.
  const failingRef = useRef<readonly FailingPlan[]>([]);
  const overview = useResource(
    async (signal) => {
      const data = await loadOverview(cursor, signal, failingRef.current);
      failingRef.current = data.failing;
      return data;
    },
    [cursor],
    { pollMs: POLL_MS },
  );
  const since = useState(() => new Date(Date.now() - 24 * 3600 * 1000).toISOString())[0];
  const stats = useResource((signal) => unwrap(api().GET("/stats", { params: { query: { since } }, signal })), [since], {
    pollMs: POLL_MS,
  });
  const queue = useResource((signal) => unwrap(api().GET("/queue/stats", { signal })), [], { pollMs: POLL_MS });

  const failing = overview.data?.failing ?? [];
  const totals = stats.data?.totals;
  const counts = sumCounts(queue.data?.queues ?? []);
  const oldest = Math.max(0, ...(queue.data?.queues ?? []).map((q) => q.oldest_available_age_seconds));

  return (
    <>
      <PageHeader title="Overview" />

      <section aria-labelledby="totals-title" class="card">
        <h2 id="totals-title">Last 24 hours</h2>
        <ErrorView error={stats.error} what="Could not load the totals" />
        <dl class="stats">
          <Stat label="Runs" value={totals ? String(totals.runs) : "—"} />
          <Stat label="Pass rate" value={formatPercent(totals?.pass_rate, 1)} />
          <Stat label="Failed" value={totals ? String(totals.failed) : "—"} />
          <Stat label="Errors" value={totals ? String(totals.error) : "—"} />
          <Stat label="p95 duration" value={formatDuration(totals?.duration_ms?.p95)} />
        </dl>
      </section>

      {failing.length > 0 && (
        <section aria-labelledby="failing-title" class="card">
          <h2 id="failing-title">
            Failing now <span class="muted">({failing.length})</span>
          </h2>
          <ul class="failing-list">
            {failing.map((f) => (
              <li key={f.plan_id}>
                <StatusBadge status={f.status} /> <a href={planHref(f.plan_id)}>{f.name}</a>{" "}
                <span class="muted">
                  failing since <time title={formatTime(f.failing_since)}>{formatAgo(f.failing_since)}</time>
                </span>{" "}
                <a href={executionHref(f.execution_id)} aria-label={`latest run of ${f.name}`}>
                  latest run
                </a>
              </li>
            ))}
          </ul>
        </section>
      )}

      <section aria-labelledby="plans-title" class="card">
        <div class="card-header">
          <h2 id="plans-title">Plans</h2>
        </div>
        <ErrorView error={overview.error} what="Could not load the plans" />
        {overview.loading && <Loading what="Loading plans" />}
        {overview.data && overview.data.plans.length === 0 && cursors.length === 1 && (
          <p class="empty">
            No plans yet. <a href={NEW_PLAN_HREF}>Create the first one</a>.
          </p>
        )}
        {overview.data && overview.data.plans.length > 0 && <PlansTable plans={overview.data.plans} />}
        {(cursors.length > 1 || overview.data?.nextCursor) && (
          <div class="actions pager">
            <button
              type="button"
              class="btn btn-small"
              disabled={cursors.length <= 1}
              onClick={() => setCursors((c) => c.slice(0, -1))}
            >
              Previous page
            </button>
            <button
              type="button"
              class="btn btn-small"
              disabled={!overview.data?.nextCursor}
              onClick={() => overview.data?.nextCursor && setCursors((c) => [...c, overview.data!.nextCursor])}
            >
              Next page
            </button>
          </div>
        )}
      </section>

      <section aria-labelledby="queue-title" class="card">
        <div class="card-header">
          <h2 id="queue-title">Queue</h2>
          <a href={queueHref()}>Open the queue</a>
        </div>
        <ErrorView error={queue.error} what="Could not load the queue" />
        <dl class="stats">
          {JOB_STATES.map((s) => (
            <Stat key={s} label={<StatusBadge status={s} />} value={queue.data ? String(counts[s] ?? 0) : "—"} />
          ))}
          <Stat label="Oldest waiting job" value={queue.data ? formatDuration(oldest * 1000) : "—"} />
        </dl>
        {queue.data && queue.data.queues.length > 0 && (
          <div class="table-wrap">
            <table class="queue-latency">
              <caption>Pick-up latency: from an execution's creation to its start, over recent runs</caption>
              <thead>
                <tr>
                  <th scope="col">Queue</th>
                  <th scope="col" class="num">
                    Waiting
                  </th>
                  <th scope="col" class="num">
                    Running
                  </th>
                  <th scope="col" class="num">
                    p50
                  </th>
                  <th scope="col" class="num">
                    p99
                  </th>
                  <th scope="col" class="num">
                    Runs
                  </th>
                </tr>
              </thead>
              <tbody>
                {queue.data.queues.map((q) => (
                  <tr key={q.queue}>
                    <th scope="row" class="plain">
                      <a href={queueHref(q.queue)}>{q.queue}</a>
                    </th>
                    <td class="num">{q.counts.available ?? 0}</td>
                    <td class="num">{q.counts.running ?? 0}</td>
                    <td class="num">{formatDuration(q.pickup_ms?.p50)}</td>
                    <td class="num">{formatDuration(q.pickup_ms?.p99)}</td>
                    <td class="num">{q.pickup_runs}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

function PlansTable({ plans }: { plans: OverviewPlan[] }) {
  return (
    <div class="table-wrap">
      <table class="stack-phone">
        <thead>
          <tr>
            <th scope="col">Plan</th>
            <th scope="col">Latest</th>
            <th scope="col">Last {RECENT_RUNS} runs</th>
            <th scope="col" class="num">
              24 h pass rate
            </th>
            <th scope="col" class="hide-phone">
              Last run
            </th>
          </tr>
        </thead>
        <tbody>
          {plans.map((p) => (
            <tr key={p.id} class={p.failingSince ? "row-failing" : undefined}>
              <th scope="row" class="plan-name">
                <a href={planHref(p.id)}>{p.name}</a>
              </th>
              <td data-label="Latest">
                <StatusBadge status={p.latestStatus} />
              </td>
              <td data-label={`Last ${RECENT_RUNS} runs`}>
                <RunStrip runs={p.recent} label={`Last runs of ${p.name}, oldest first`} />
              </td>
              <td class="num" data-label="24 h pass rate">
                {formatPercent(p.passRate24h)}
                <span class="muted small"> {p.runs24h > 0 ? `of ${p.runs24h}` : ""}</span>
              </td>
              <td class="hide-phone">{p.recent[0] ? formatAgo(p.recent[0].created_at) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Stat({ label, value }: { label: ComponentChildren; value: string }) {
  return (
    <div class="stat">
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function sumCounts(queues: readonly { counts: Record<string, number> }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const q of queues) for (const [k, v] of Object.entries(q.counts)) out[k] = (out[k] ?? 0) + v;
  return out;
}
