/**
 * JobPage shows one job of the queue: its state, attempts, timing, lease,
 * payload (with a link to the execution it runs) and every failed attempt's
 * error. It polls while the job is not final.
 */
import "../admin.css";
import { api, isProblemError, unwrap, type components } from "../api";
import { ErrorView, Loading } from "../components/ErrorView";
import { PageHeader } from "../components/Layout";
import { TableWrap } from "../components/TableWrap";
import { StatusBadge } from "../components/StatusBadge";
import { formatAgo, formatTime } from "../format";
import { executionHref, queueHref } from "../links";
import { useResource } from "../resource";

type Job = components["schemas"]["Job"];

/** FINAL_JOB_STATES are the job states that never change again. */
export const FINAL_JOB_STATES: readonly Job["state"][] = ["completed", "discarded", "cancelled"];

/** executionOf returns the execution a job runs, from its payload, if it names one. */
export function executionOf(job: Pick<Job, "payload">): string | undefined {
  const p = job.payload as unknown;
  if (typeof p === "object" && p !== null && "execution_id" in p) {
    const id = (p as { execution_id: unknown }).execution_id;
    if (typeof id === "string" && id) return id;
  }
  return undefined;
}

/** JobPage is the page at /ui/jobs/:id. */
export function JobPage({ id }: { id: string }) {
  const numeric = /^[1-9][0-9]{0,18}$/.test(id) ? Number(id) : undefined;
  const job = useResource(
    (signal) => {
      if (numeric === undefined) return Promise.reject(new Error(`"${id}" is not a job ID: job IDs are positive integers.`));
      return unwrap(api().GET("/job/{id}", { params: { path: { id: numeric } }, signal }));
    },
    [id],
    { pollMs: 2000, while: (j) => !FINAL_JOB_STATES.includes(j.state) },
  );
  const crumbs = [
    { href: "/", label: "Overview" },
    { href: "/ui/queue", label: "Queue" },
  ];
  const j = job.data;
  if (!j) {
    return (
      <>
        <PageHeader title={`Job ${id}`} crumbs={crumbs} />
        {isProblemError(job.error, 404) ? (
          <div class="alert" role="alert">
            <p>
              <strong>No job has ID {id}.</strong> Final jobs are deleted 24 hours after they finish.
            </p>
          </div>
        ) : (
          <ErrorView error={job.error} what="Could not load the job" />
        )}
        {job.loading && <Loading />}
      </>
    );
  }
  const execution = executionOf(j);
  return (
    <>
      <PageHeader title={`Job ${j.id}`} crumbs={crumbs}>
        <p>
          <StatusBadge status={j.state} />{" "}
          {j.cancel_requested && !FINAL_JOB_STATES.includes(j.state) && <span class="muted">cancellation requested</span>}
        </p>
      </PageHeader>
      <ErrorView error={job.error} what="Could not refresh the job" />
      <div class="grid">
        <section class="card" aria-labelledby="job-facts-title">
          <h2 id="job-facts-title">Details</h2>
          <dl class="facts">
            <dt>Queue</dt>
            <dd>
              <a href={queueHref(j.queue)}>{j.queue}</a>
            </dd>
            <dt>Kind</dt>
            <dd>
              <code>{j.kind}</code>
            </dd>
            <dt>Attempts</dt>
            <dd>
              {j.attempt} of {j.max_attempts}
            </dd>
            <dt>Priority</dt>
            <dd>{j.priority}</dd>
            {execution && (
              <>
                <dt>Execution</dt>
                <dd>
                  <a href={executionHref(execution)} class="mono">
                    {execution}
                  </a>
                </dd>
              </>
            )}
            <dt>Enqueued</dt>
            <dd>
              {formatTime(j.created_at)} <span class="muted">({formatAgo(j.created_at)})</span>
            </dd>
            <dt>Due</dt>
            <dd>{formatTime(j.run_at)}</dd>
            <dt>Finished</dt>
            <dd>{formatTime(j.finished_at)}</dd>
            <dt>Worker</dt>
            <dd>{j.lease_owner || <span class="muted">none</span>}</dd>
            <dt>Lease until</dt>
            <dd>{formatTime(j.lease_expires_at)}</dd>
            {j.unique_key && (
              <>
                <dt>Unique key</dt>
                <dd class="mono">{j.unique_key}</dd>
              </>
            )}
          </dl>
        </section>
        <section class="card" aria-labelledby="job-payload-title">
          <h2 id="job-payload-title">Payload</h2>
          <pre>{JSON.stringify(j.payload, null, 2)}</pre>
        </section>
      </div>
      <section class="card" aria-labelledby="job-errors-title">
        <h2 id="job-errors-title">Failed attempts</h2>
        {(j.errors ?? []).length === 0 ? (
          <p class="empty">No attempt has failed.</p>
        ) : (
          <TableWrap label="Failed attempt list">
            <table class="stack-phone">
              <thead>
                <tr>
                  <th scope="col" class="num">
                    Attempt
                  </th>
                  <th scope="col">When</th>
                  <th scope="col">Error</th>
                </tr>
              </thead>
              <tbody>
                {(j.errors ?? []).map((e) => (
                  <tr key={`${e.attempt}-${e.at}`}>
                    <td class="num" data-label="Attempt">
                      {e.attempt}
                    </td>
                    <td data-label="When" title={formatTime(e.at)}>
                      {formatAgo(e.at)}
                    </td>
                    <td class="cell-text" data-label="Error">
                      {e.error}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
    </>
  );
}
