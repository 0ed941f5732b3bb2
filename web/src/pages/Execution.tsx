/**
 * ExecutionPage shows one execution (/ui/executions/:id): its status and
 * facts, and per step the request, the assertions with expected and actual
 * values, the captured values (redacted ones shown as redacted), the
 * response excerpt, timings and attempts. It polls while the execution is
 * not final, cancels it while it runs, and downloads its JUnit report.
 */
import { useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { api, FINAL_STATUSES, unwrap, type components, type Execution, type Plan } from "../api";
import { ErrorView, Loading } from "../components/ErrorView";
import { PageHeader } from "../components/Layout";
import { StatusBadge } from "../components/StatusBadge";
import { durationBetween, formatDuration, formatTime, shortId } from "../format";
import { jobHref, planHref } from "../links";
import { useResource } from "../resource";

type StepResult = components["schemas"]["RunStepResult"];
type AssertionResult = components["schemas"]["RunAssertionResult"];
type PlanStep = Plan["document"]["steps"][number];

/** REDACTED is the text the runner puts in place of a secret value. */
export const REDACTED = "[REDACTED]";

/** POLL_MS is how often a running execution is polled. */
const POLL_MS = 1000;

const isFinal = (e: Execution) => FINAL_STATUSES.includes(e.status);

/** ExecutionPage renders /ui/executions/:id. */
export function ExecutionPage() {
  const { params } = useRoute();
  const id = params.id ?? "";
  const exec = useResource((signal) => unwrap(api().GET("/execution/{id}", { params: { path: { id } }, signal })), [id], {
    pollMs: POLL_MS,
    while: (e) => !isFinal(e),
  });
  const planId = exec.data?.plan_id;
  const plan = useResource(
    (signal) =>
      planId ? unwrap(api().GET("/plan/{id}", { params: { path: { id: planId } }, signal })) : Promise.resolve(undefined),
    [planId],
  );

  if (exec.loading) return <Loading what="Loading the execution" />;
  if (!exec.data) {
    return (
      <>
        <PageHeader title="Execution" crumbs={[{ href: "/", label: "Overview" }]} />
        <ErrorView error={exec.error} what="Could not load the execution" />
      </>
    );
  }
  const e = exec.data;
  const p = plan.data;
  // The plan's steps describe the requests only if the plan has not changed since the run.
  const steps = p && p.revision === e.plan_revision ? p.document.steps : undefined;
  const crumbs = [{ href: "/", label: "Overview" }, ...(p ? [{ href: planHref(p.id), label: p.name }] : [])];
  return (
    <>
      <PageHeader
        title={
          <>
            Execution <span class="mono">{shortId(e.id)}</span> <StatusBadge status={e.status} />
          </>
        }
        docTitle={`Execution ${shortId(e.id)} (${e.status})`}
        crumbs={crumbs}
        actions={<ExecutionActions exec={e} onChanged={exec.reload} />}
      />
      <ErrorView error={exec.error} what="Could not refresh the execution" />
      {!isFinal(e) && (
        <p class="notice" role="status">
          {e.status === "queued" ? "Waiting for a worker…" : "Running…"} This page updates by itself.
        </p>
      )}
      <section class="card" aria-labelledby="facts-title">
        <h2 id="facts-title">Summary</h2>
        <ExecutionFacts exec={e} plan={p} />
        {e.result?.error && (
          <div class="alert" role="alert">
            <p>
              <strong>Run error:</strong> {e.result.error}
            </p>
          </div>
        )}
        {e.result?.totals && (
          <dl class="stats">
            <Stat label="Passed" value={e.result.totals.passed} tone="ok" />
            <Stat label="Failed" value={e.result.totals.failed} tone="bad" />
            <Stat label="Errors" value={e.result.totals.errors} tone="warn" />
            <Stat label="Skipped" value={e.result.totals.skipped} tone="idle" />
            <div class="stat">
              <dt>Duration</dt>
              <dd>{formatDuration(e.result.totals.duration_ms)}</dd>
            </div>
          </dl>
        )}
        {e.result?.truncated && (
          <p class="muted">The result reached its size limit: later steps keep only their outcome and first failures.</p>
        )}
      </section>
      <section aria-labelledby="steps-title">
        <h2 id="steps-title">Steps</h2>
        {!e.result?.steps?.length && <p class="muted">{isFinal(e) ? "No step results." : "No step has finished yet."}</p>}
        <ol class="steps">
          {(e.result?.steps ?? []).map((s, i) => (
            <StepCard key={i} index={i} step={s} planStep={steps?.[i]} />
          ))}
        </ol>
      </section>
    </>
  );
}

function ExecutionActions({ exec, onChanged }: { exec: Execution; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const cancel = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await unwrap(api().POST("/execution/{id}/cancel", { params: { path: { id: exec.id } } }));
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const download = async () => {
    setError(undefined);
    try {
      const xml = await api().junitReport(exec.id);
      const url = URL.createObjectURL(new Blob([xml], { type: "application/xml" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = `execution-${exec.id}.junit.xml`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(err);
    }
  };
  const final = isFinal(exec);
  return (
    <>
      {!final && (
        <button type="button" class="btn btn-danger" disabled={busy} onClick={() => void cancel()}>
          {busy ? "Cancelling…" : "Cancel"}
        </button>
      )}
      <button type="button" class="btn" disabled={!final} onClick={() => void download()}>
        Download JUnit
      </button>
      {error !== undefined && (
        <div class="actions-error">
          <ErrorView error={error} what="The action failed" />
        </div>
      )}
    </>
  );
}

function ExecutionFacts({ exec: e, plan }: { exec: Execution; plan: Plan | undefined }) {
  const vars = Object.entries(e.variables);
  return (
    <dl class="facts">
      <dt>Plan</dt>
      <dd>
        <a href={planHref(e.plan_id)}>{plan?.name ?? e.plan_id}</a> <span class="muted">revision {e.plan_revision}</span>
      </dd>
      <dt>Trigger</dt>
      <dd>
        {e.trigger}
        {e.schedule_id && <span class="muted"> (schedule {shortId(e.schedule_id)})</span>}
      </dd>
      <dt>Environment</dt>
      <dd>{e.environment ?? <span class="muted">none</span>}</dd>
      {vars.length > 0 && (
        <>
          <dt>Variables</dt>
          <dd>
            {vars.map(([k, v], i) => (
              <span key={k}>
                {i > 0 && ", "}
                <code>{k}</code> = <Value text={v} />
              </span>
            ))}
          </dd>
        </>
      )}
      <dt>Queue</dt>
      <dd>
        {e.queue}
        {e.job_id !== null && (
          <>
            {" "}
            <a href={jobHref(e.job_id)}>job {e.job_id}</a>
          </>
        )}
      </dd>
      <dt>Attempt</dt>
      <dd>{e.attempt}</dd>
      {e.worker_id && (
        <>
          <dt>Worker</dt>
          <dd class="mono">{e.worker_id}</dd>
        </>
      )}
      <dt>Created</dt>
      <dd>{formatTime(e.created_at)}</dd>
      <dt>Started</dt>
      <dd>{formatTime(e.started_at)}</dd>
      <dt>Finished</dt>
      <dd>{formatTime(e.finished_at)}</dd>
      <dt>Wall time</dt>
      <dd>{formatDuration(durationBetween(e.started_at, e.finished_at))}</dd>
      {e.result?.trace_id && (
        <>
          <dt>Trace ID</dt>
          <dd class="mono">{e.result.trace_id}</dd>
        </>
      )}
    </dl>
  );
}

function Stat({ label, value, tone }: { label: string; value: number; tone: string }) {
  return (
    <div class={`stat${value > 0 ? ` stat-${tone}` : ""}`}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

function StepCard({ index, step, planStep }: { index: number; step: StepResult; planStep: PlanStep | undefined }) {
  const failed = step.status === "failed" || step.status === "error";
  const assertions = step.assertions ?? [];
  const captured = Object.entries(step.captured ?? {});
  const headingId = `step-${index}-title`;
  return (
    <li class={`card step step-${step.status}`} aria-labelledby={headingId} data-step-status={step.status}>
      <div class="step-head">
        <h3 id={headingId}>
          <span class="muted">{index + 1}.</span> {step.name}
        </h3>
        <StatusBadge status={step.status === "skipped" ? "cancelled" : step.status} label={step.status} />
      </div>
      <dl class="facts step-facts">
        {planStep && (
          <>
            <dt>Request</dt>
            <dd>
              <code>
                {planStep.request.method} {planStep.request.url}
              </code>
            </dd>
          </>
        )}
        <dt>HTTP status</dt>
        <dd>{step.http_status ?? <span class="muted">no response</span>}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(step.duration_ms)}</dd>
        <dt>Attempts</dt>
        <dd>{step.attempts}</dd>
      </dl>
      {step.error && (
        <p class={failed ? "fail-text" : "muted"}>
          <strong>{step.status === "skipped" ? "Skipped: " : "Error: "}</strong>
          {step.error}
        </p>
      )}
      {assertions.length > 0 && <Assertions rows={assertions} stepIndex={index} />}
      {captured.length > 0 && (
        <div class="table-wrap">
          <table class="captures">
            <caption>Captured values</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {captured.map(([name, value]) => (
                <tr key={name}>
                  <th scope="row" class="plain">
                    <code>{name}</code>
                  </th>
                  <td>
                    <Value text={value} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {planStep && (planStep.request.body !== undefined || Object.keys(planStep.request.headers ?? {}).length > 0) && (
        <details class="excerpt">
          <summary>Request headers and body, as written in the plan</summary>
          <pre>{requestText(planStep.request)}</pre>
        </details>
      )}
      {step.body_excerpt !== undefined && step.body_excerpt !== "" && (
        <details class="excerpt" open={failed}>
          <summary>Response body (first 4 KiB)</summary>
          <pre>{prettyBody(step.body_excerpt)}</pre>
        </details>
      )}
      {step.truncated && <p class="muted small">This step's details were cut to keep the result small.</p>}
    </li>
  );
}

function Assertions({ rows, stepIndex }: { rows: AssertionResult[]; stepIndex: number }) {
  return (
    <div class="table-wrap">
      <table class="assertions">
        <caption>Assertions</caption>
        <thead>
          <tr>
            <th scope="col">Check</th>
            <th scope="col">Result</th>
            <th scope="col">Expected</th>
            <th scope="col">Actual</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((a, i) => (
            <tr key={i} class={a.passed ? undefined : "row-failed"} data-assertion={`${stepIndex}-${i}`}>
              <td>
                {a.kind.replace(/_/g, " ")}
                {a.target && (
                  <>
                    {" "}
                    <code>{a.target}</code>
                  </>
                )}
                {!a.passed && a.message && <div class="small fail-text">{a.message}</div>}
              </td>
              <td>
                <StatusBadge status={a.passed ? "passed" : "failed"} />
              </td>
              <td class="assert-expected">
                <JSONValue value={a.expected} />
              </td>
              <td class="assert-actual">
                <JSONValue value={a.actual} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Value shows a string, or a "redacted" badge for a value the runner redacted. */
function Value({ text }: { text: string }) {
  if (text === REDACTED) {
    return (
      <span class="redacted" title="The runner redacted this value because its name looks secret.">
        <span aria-hidden="true">•••</span> redacted
      </span>
    );
  }
  return <code class="value">{text}</code>;
}

function JSONValue({ value }: { value: unknown }) {
  if (value === undefined) return <span class="muted">—</span>;
  if (typeof value === "string") return <Value text={value} />;
  return <code class="value">{JSON.stringify(value)}</code>;
}

/** requestText writes a plan step's request headers and body as an HTTP message would carry them (before templates are filled). */
function requestText(req: PlanStep["request"]): string {
  const headers = Object.entries(req.headers ?? {}).map(([k, v]) => `${k}: ${v}`);
  const body =
    req.body === undefined || req.body === null ? "" : typeof req.body === "string" ? req.body : JSON.stringify(req.body, null, 2);
  return [`${req.method} ${req.url}`, ...headers, ...(body ? ["", body] : [])].join("\n");
}

/** prettyBody indents a JSON body; anything else is shown as it is. */
function prettyBody(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
