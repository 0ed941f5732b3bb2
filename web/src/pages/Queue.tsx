/**
 * QueuePage shows the job queue: the number of jobs of each queue in each
 * state, how long the oldest waiting job has waited and the recent pick-up
 * latency (GET /queue/stats), and the jobs themselves (GET /job), newest
 * first, filtered by queue and state (kept in the URL: /ui/queue?queue=
 * &state=), a page of 50 at a time with keyset paging. Both refresh every
 * 5 s while the first page is shown.
 */
import "../admin.css";
import { useLocation } from "preact-iso";
import { api, unwrap, type components } from "../api";
import { ErrorView, Loading } from "../components/ErrorView";
import { PageHeader } from "../components/Layout";
import { TableWrap } from "../components/TableWrap";
import { Pager, useKeysetPager } from "../components/Pager";
import { StatusBadge } from "../components/StatusBadge";
import { formatAgo, formatDuration, formatTime, shortId } from "../format";
import { executionHref, jobHref } from "../links";
import { useResource } from "../resource";
import { executionOf } from "./Job";

type Job = components["schemas"]["Job"];
type JobState = Job["state"];
type QueueStat = components["schemas"]["QueueStat"];

/** JOB_STATES are the job states in lifecycle order, as the columns show them. */
export const JOB_STATES: readonly JobState[] = ["available", "running", "retryable", "completed", "discarded", "cancelled"];

/** PAGE_SIZE is how many jobs one page of the list holds. */
const PAGE_SIZE = 50;

/** queueFilterHref is the queue page filtered to queue and state (either may be empty). */
export function queueFilterHref(queue: string, state: string): string {
  const q = new URLSearchParams();
  if (queue) q.set("queue", queue);
  if (state) q.set("state", state);
  const s = q.toString();
  return s ? `/ui/queue?${s}` : "/ui/queue";
}

function isJobState(s: string | undefined): s is JobState {
  return JOB_STATES.includes(s as JobState);
}

/** QueuePage is the page at /ui/queue. */
export function QueuePage() {
  const { query, route } = useLocation();
  const queue = query.queue ?? "";
  const state = isJobState(query.state) ? query.state : "";
  const stats = useResource((signal) => unwrap(api().GET("/queue/stats", { signal })), [], { pollMs: 5000 });
  const queues = (stats.data?.queues ?? []).map((q) => q.queue);
  if (queue && !queues.includes(queue)) queues.push(queue);

  return (
    <>
      <PageHeader title="Queue" crumbs={[{ href: "/", label: "Overview" }]}>
        <p class="muted">Every execution runs as a job of a queue. Final jobs are deleted 24 hours after they finish.</p>
      </PageHeader>
      <section class="card" aria-labelledby="queue-stats-title">
        <h2 id="queue-stats-title">Jobs by queue and state</h2>
        <ErrorView error={stats.error} what="Could not load the queue counts" />
        {stats.loading && <Loading />}
        {stats.data && <StatsTable queues={stats.data.queues} />}
      </section>
      <section class="card" aria-labelledby="jobs-title">
        <h2 id="jobs-title">Jobs</h2>
        <form
          class="fields-row filters"
          role="search"
          aria-label="Filter the jobs"
          onSubmit={(e) => e.preventDefault()}
        >
          <div class="field">
            <label for="jobs-queue">Queue</label>
            <select id="jobs-queue" value={queue} onChange={(e) => route(queueFilterHref((e.target as HTMLSelectElement).value, state))}>
              <option value="">All queues</option>
              {queues.map((q) => (
                <option key={q} value={q}>
                  {q}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="jobs-state">State</label>
            <select id="jobs-state" value={state} onChange={(e) => route(queueFilterHref(queue, (e.target as HTMLSelectElement).value))}>
              <option value="">All states</option>
              {JOB_STATES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          {(queue || state) && (
            <a class="btn btn-small btn-ghost" href="/ui/queue">
              Clear filters
            </a>
          )}
        </form>
        <JobList key={`${queue}|${state}`} queue={queue} state={state} />
      </section>
    </>
  );
}

/** StatsTable shows the counts of each queue by state, with totals. */
function StatsTable({ queues }: { queues: QueueStat[] }) {
  if (queues.length === 0) return <p class="empty">The queue holds no jobs.</p>;
  const total = (s: string) => queues.reduce((n, q) => n + (q.counts[s] ?? 0), 0);
  return (
    <TableWrap label="Job counts">
      <table class="stack-phone">
        <thead>
          <tr>
            <th scope="col">Queue</th>
            {JOB_STATES.map((s) => (
              <th scope="col" class="num" key={s}>
                {s}
              </th>
            ))}
            <th scope="col" class="num">
              Oldest waiting
            </th>
            <th scope="col" class="num">
              Pick-up p50 / p99
            </th>
          </tr>
        </thead>
        <tbody>
          {queues.map((q) => (
            <tr key={q.queue}>
              <th scope="row">
                <a href={queueFilterHref(q.queue, "")}>{q.queue}</a>
              </th>
              {JOB_STATES.map((s) => (
                <CountCell key={s} n={q.counts[s] ?? 0} href={queueFilterHref(q.queue, s)} state={s} where={q.queue} />
              ))}
              <td class="num" data-label="Oldest waiting">{q.oldest_available_age_seconds > 0 ? formatDuration(q.oldest_available_age_seconds * 1000) : "—"}</td>
              <PickupCell stat={q} />
            </tr>
          ))}
        </tbody>
        {queues.length > 1 && (
          <tfoot>
            <tr>
              <th scope="row">All queues</th>
              {JOB_STATES.map((s) => (
                <CountCell key={s} n={total(s)} href={queueFilterHref("", s)} state={s} where="all queues" />
              ))}
              <td class="num" data-label="Oldest waiting">
                {formatDuration(Math.max(...queues.map((q) => q.oldest_available_age_seconds)) * 1000 || undefined)}
              </td>
              <td class="num muted" data-label="Pick-up p50 / p99">
                —
              </td>
            </tr>
          </tfoot>
        )}
      </table>
    </TableWrap>
  );
}

/**
 * PickupCell shows how long the queue's recent executions waited from their
 * creation to their first start (median and 99th percentile), or a dash
 * when none has started.
 */
function PickupCell({ stat }: { stat: QueueStat }) {
  const p = stat.pickup_ms;
  if (!p)
    return (
      <td class="num muted" data-label="Pick-up p50 / p99">
        —
      </td>
    );
  return (
    <td class="num" data-label="Pick-up p50 / p99" title={`Over the ${stat.pickup_runs} most recent executions of ${stat.queue} that started`}>
      {formatDuration(p.p50)} / {formatDuration(p.p99)}
    </td>
  );
}

/** CountCell is one count, linking to the jobs it counts, named "12 available jobs in default". */
function CountCell({ n, href, state, where }: { n: number; href: string; state: string; where: string }) {
  if (n === 0)
    return (
      <td class="num zero" data-label={state}>
        0
      </td>
    );
  return (
    <td class="num" data-label={state}>
      <a href={href} aria-label={`${n.toLocaleString("en")} ${state} job${n === 1 ? "" : "s"} in ${where}`}>
        {n.toLocaleString("en")}
      </a>
    </td>
  );
}

/** JobList is one page of jobs for the filters, with paging. */
function JobList({ queue, state }: { queue: string; state: JobState | "" }) {
  const pager = useKeysetPager();
  const jobs = useResource(
    (signal) =>
      unwrap(
        api().GET("/job", {
          params: {
            query: {
              queue: queue || undefined,
              state: state || undefined,
              limit: PAGE_SIZE,
              cursor: pager.cursor || undefined,
            },
          },
          signal,
        }),
      ),
    [queue, state, pager.cursor],
    { pollMs: pager.page === 1 ? 5000 : undefined },
  );
  const list = jobs.data?.jobs ?? [];
  return (
    <>
      <ErrorView error={jobs.error} what="Could not load the jobs" />
      {jobs.loading && <Loading what="Loading jobs" />}
      {jobs.data && list.length === 0 && <p class="empty">No jobs match.</p>}
      {list.length > 0 && (
        <TableWrap label="Job list">
          <table class="stack-phone">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Queue</th>
                <th scope="col">Kind</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Enqueued</th>
                <th scope="col">Execution</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {list.map((j) => (
                <JobRow key={j.id} job={j} />
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <Pager pager={pager} nextCursor={jobs.data?.next_cursor} label="Job pages" />
    </>
  );
}

function JobRow({ job: j }: { job: Job }) {
  const execution = executionOf(j);
  return (
    <tr>
      <th scope="row">
        <a href={jobHref(j.id)}>{j.id}</a>
      </th>
      <td data-label="Queue">{j.queue}</td>
      <td data-label="Kind">
        <code>{j.kind}</code>
      </td>
      <td data-label="State">
        <StatusBadge status={j.state} />
      </td>
      <td class="num" data-label="Attempts">
        {j.attempt} / {j.max_attempts}
      </td>
      <td data-label="Enqueued" title={formatTime(j.created_at)}>
        {formatAgo(j.created_at)}
      </td>
      <td data-label="Execution">
        {execution ? (
          <a href={executionHref(execution)} title={execution}>
            {shortId(execution)}
          </a>
        ) : (
          <span class="muted">—</span>
        )}
      </td>
      <td class="cell-text" data-label="Last error">{j.last_error || <span class="muted">—</span>}</td>
    </tr>
  );
}
