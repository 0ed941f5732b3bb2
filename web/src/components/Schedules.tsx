/**
 * Schedules lists a plan's schedules, pauses and resumes them, and creates
 * new ones (POST /plan/{id}/schedule).
 */
import { useState } from "preact/hooks";
import { api, isProblemError, unwrap, type components } from "../api";
import { formatAgo, formatTime } from "../format";
import { executionHref } from "../links";
import { useResource } from "../resource";
import { ErrorView, Loading } from "./ErrorView";
import { StatusBadge } from "./StatusBadge";

type Schedule = components["schemas"]["Schedule"];
type ScheduleBody = components["schemas"]["ScheduleBody"];

/** SchedulesProps are Schedules' properties. */
export interface SchedulesProps {
  planId: string;
  /** environments are the names offered for a new schedule. */
  environments: readonly string[];
}

/** Schedules renders the plan's schedules and the form that adds one. */
export function Schedules({ planId, environments }: SchedulesProps) {
  const list = useResource(
    (signal) => unwrap(api().GET("/schedule", { params: { query: { plan_id: planId, limit: 200 } }, signal })),
    [planId],
    { pollMs: 15_000 },
  );
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<unknown>(undefined);

  const toggle = async (s: Schedule) => {
    setBusy(s.id);
    setActionError(undefined);
    try {
      const path = s.paused ? "/schedule/{id}/resume" : "/schedule/{id}/pause";
      await unwrap(api().POST(path, { params: { path: { id: s.id } } }));
      list.reload();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(null);
    }
  };

  const schedules = list.data?.schedules ?? [];
  return (
    <>
      <ErrorView error={list.error} what="Could not load the schedules" />
      <ErrorView error={actionError} what="Could not change the schedule" />
      {list.loading && <Loading what="Loading schedules" />}
      {list.data && schedules.length === 0 && <p class="muted">No schedules: the plan runs only when asked.</p>}
      {schedules.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">State</th>
                <th scope="col">Next run</th>
                <th scope="col">Last run</th>
                <th scope="col" class="hide-phone">
                  Environment
                </th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {schedules.map((s) => (
                <tr key={s.id} data-schedule-id={s.id}>
                  <td>
                    <code>{s.cron}</code>
                    <div class="muted small">
                      {s.timezone}
                      {s.overlap === "allow" ? ", overlapping runs allowed" : ""}
                    </div>
                  </td>
                  <td>
                    <StatusBadge status={s.paused ? "paused" : "active"} />
                  </td>
                  <td>{s.paused ? <span class="muted">—</span> : <time title={formatTime(s.next_run_at)}>{formatAgo(s.next_run_at)}</time>}</td>
                  <td>
                    {s.last_execution_id ? (
                      <a href={executionHref(s.last_execution_id)}>{formatAgo(s.last_run_at)}</a>
                    ) : (
                      <span class="muted">never</span>
                    )}
                  </td>
                  <td class="hide-phone">{s.environment ?? <span class="muted">none</span>}</td>
                  <td>
                    <button
                      type="button"
                      class="btn btn-small"
                      disabled={busy === s.id}
                      onClick={() => void toggle(s)}
                      aria-label={`${s.paused ? "Resume" : "Pause"} schedule ${s.cron}`}
                    >
                      {s.paused ? "Resume" : "Pause"}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <NewSchedule planId={planId} environments={environments} onCreated={list.reload} />
    </>
  );
}

function NewSchedule({
  planId,
  environments,
  onCreated,
}: {
  planId: string;
  environments: readonly string[];
  onCreated: () => void;
}) {
  const [cron, setCron] = useState("@every 5m");
  const [timezone, setTimezone] = useState("UTC");
  const [environment, setEnvironment] = useState("");
  const [overlap, setOverlap] = useState<"skip" | "allow">("skip");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  const fieldError = (field: string) =>
    isProblemError(error) ? error.errors.find((e) => e.location === `body.${field}`)?.message : undefined;

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const body: ScheduleBody = { cron: cron.trim(), timezone: timezone.trim() || "UTC", overlap };
    if (environment) body.environment = environment;
    try {
      await unwrap(api().POST("/plan/{id}/schedule", { params: { path: { id: planId } }, body }));
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const cronError = fieldError("cron");
  const tzError = fieldError("timezone");
  const otherErrors = isProblemError(error)
    ? error.errors.filter((d) => d.location !== "body.cron" && d.location !== "body.timezone")
    : [];
  return (
    <form class="subform" onSubmit={submit} aria-labelledby="new-schedule-title">
      <h3 id="new-schedule-title">Add a schedule</h3>
      <div class="fields-row">
        <div class="field">
          <label for="schedule-cron">Cron or @every</label>
          <input
            id="schedule-cron"
            name="cron"
            required
            value={cron}
            aria-invalid={cronError ? "true" : undefined}
            aria-describedby="schedule-cron-hint schedule-cron-error"
            onInput={(e) => setCron((e.target as HTMLInputElement).value)}
          />
          <span id="schedule-cron-hint" class="field-hint">
            e.g. <code>*/5 * * * *</code>, <code>@hourly</code>, <code>@every 30s</code>
          </span>
          {cronError && (
            <span id="schedule-cron-error" class="field-error">
              {cronError}
            </span>
          )}
        </div>
        <div class="field">
          <label for="schedule-tz">Time zone</label>
          <input
            id="schedule-tz"
            name="timezone"
            value={timezone}
            aria-invalid={tzError ? "true" : undefined}
            aria-describedby="schedule-tz-error"
            onInput={(e) => setTimezone((e.target as HTMLInputElement).value)}
          />
          {tzError && (
            <span id="schedule-tz-error" class="field-error">
              {tzError}
            </span>
          )}
        </div>
        <div class="field">
          <label for="schedule-env">Environment</label>
          <select id="schedule-env" value={environment} onChange={(e) => setEnvironment((e.target as HTMLSelectElement).value)}>
            <option value="">none</option>
            {environments.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="schedule-overlap">While the last run is going</label>
          <select
            id="schedule-overlap"
            value={overlap}
            onChange={(e) => setOverlap((e.target as HTMLSelectElement).value as "skip" | "allow")}
          >
            <option value="skip">skip the tick</option>
            <option value="allow">run anyway</option>
          </select>
        </div>
        <button type="submit" class="btn btn-primary" disabled={busy}>
          {busy ? "Adding…" : "Add schedule"}
        </button>
      </div>
      {error !== undefined && (!isProblemError(error) || otherErrors.length > 0 || (!cronError && !tzError)) && (
        <ErrorView error={error} what="Could not add the schedule" />
      )}
    </form>
  );
}
