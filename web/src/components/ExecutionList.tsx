/**
 * ExecutionList is a paged table of executions (GET /execution), filtered
 * by plan and by the reader's choice of status and trigger.
 */
import { useState } from "preact/hooks";
import { api, unwrap, type ExecutionStatus } from "../api";
import { durationBetween, formatAgo, formatDuration, formatTime, shortId } from "../format";
import { executionHref } from "../links";
import { useResource } from "../resource";
import { ErrorView, Loading } from "./ErrorView";
import { StatusBadge } from "./StatusBadge";

const STATUSES: readonly ExecutionStatus[] = ["queued", "running", "passed", "failed", "error", "cancelled"];
const TRIGGERS = ["api", "schedule", "cli"] as const;
type Trigger = (typeof TRIGGERS)[number];

/** PAGE_SIZE is how many executions one page shows. */
const PAGE_SIZE = 20;

/** ExecutionList renders the filters, the table and the pager. */
export function ExecutionList({ planId }: { planId: string }) {
  const [status, setStatus] = useState<ExecutionStatus | "">("");
  const [trigger, setTrigger] = useState<Trigger | "">("");
  const [cursors, setCursors] = useState<string[]>([""]);
  const cursor = cursors[cursors.length - 1] ?? "";
  const page = useResource(
    (signal) =>
      unwrap(
        api().GET("/execution", {
          params: {
            query: {
              plan_id: planId,
              limit: PAGE_SIZE,
              cursor,
              ...(status ? { status } : {}),
              ...(trigger ? { trigger } : {}),
            },
          },
          signal,
        }),
      ),
    [planId, status, trigger, cursor],
    // The first page follows new runs; later pages stay put.
    { pollMs: cursor === "" ? 5000 : undefined },
  );

  const refilter = (f: () => void) => {
    f();
    setCursors([""]);
  };

  const rows = page.data?.executions ?? [];
  return (
    <>
      <div class="fields-row filters">
        <div class="field">
          <label for="exec-status">Status</label>
          <select
            id="exec-status"
            value={status}
            onChange={(e) => refilter(() => setStatus((e.target as HTMLSelectElement).value as ExecutionStatus | ""))}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="exec-trigger">Trigger</label>
          <select
            id="exec-trigger"
            value={trigger}
            onChange={(e) => refilter(() => setTrigger((e.target as HTMLSelectElement).value as Trigger | ""))}
          >
            <option value="">any</option>
            {TRIGGERS.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorView error={page.error} what="Could not load the executions" />
      {page.loading && <Loading what="Loading executions" />}
      {page.data && rows.length === 0 && <p class="empty">No executions match.</p>}
      {rows.length > 0 && (
        <div class="table-wrap">
          <table class="stack-phone">
            <thead>
              <tr>
                <th scope="col">Execution</th>
                <th scope="col">Status</th>
                <th scope="col">Trigger</th>
                <th scope="col">Created</th>
                <th scope="col" class="num">
                  Duration
                </th>
                <th scope="col" class="hide-phone">
                  Steps
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((e) => {
                const t = e.result?.totals;
                return (
                  <tr key={e.id}>
                    <td>
                      <a href={executionHref(e.id)} class="mono">
                        {shortId(e.id)}
                      </a>
                    </td>
                    <td data-label="Status">
                      <StatusBadge status={e.status} />
                    </td>
                    <td data-label="Trigger">{e.trigger}</td>
                    <td data-label="Created">
                      <time title={formatTime(e.created_at)}>{formatAgo(e.created_at)}</time>
                    </td>
                    <td class="num" data-label="Duration">{formatDuration(t?.duration_ms ?? durationBetween(e.started_at, e.finished_at))}</td>
                    <td class="hide-phone">
                      {t ? `${t.passed} passed, ${t.failed} failed, ${t.errors} errors${t.skipped ? `, ${t.skipped} skipped` : ""}` : "—"}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {(cursors.length > 1 || page.data?.next_cursor) && (
        <div class="actions pager">
          <button type="button" class="btn btn-small" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
            Newer
          </button>
          <button
            type="button"
            class="btn btn-small"
            disabled={!page.data?.next_cursor}
            onClick={() => {
              const next = page.data?.next_cursor;
              if (next) setCursors((c) => [...c, next]);
            }}
          >
            Older
          </button>
        </div>
      )}
    </>
  );
}
