/**
 * PlanPage shows one plan (/ui/plans/:id): run it now, its trends, its
 * executions, its schedules and alert rules, and its document, readable and
 * editable as JSON. /ui/plans/new creates a plan with the same editor.
 */
import { useLocation, useRoute } from "preact-iso";
import { api, unwrap, type Plan } from "../api";
import { AlertRules } from "../components/AlertRules";
import { ErrorView, Loading } from "../components/ErrorView";
import { ExecutionList } from "../components/ExecutionList";
import { PageHeader } from "../components/Layout";
import { PlanEditor } from "../components/PlanEditor";
import { PlanTrends } from "../components/PlanTrends";
import { RunNow } from "../components/RunNow";
import { Schedules } from "../components/Schedules";
import { formatAgo, formatTime } from "../format";
import { planHref } from "../links";
import { useResource } from "../resource";

/** PlanPage renders /ui/plans/:id, or the new-plan form for "new". */
export function PlanPage() {
  const { params } = useRoute();
  const id = params.id ?? "";
  return id === "new" ? <NewPlan /> : <ExistingPlan id={id} />;
}

function NewPlan() {
  const { route } = useLocation();
  return (
    <>
      <PageHeader title="New plan" crumbs={[{ href: "/", label: "Overview" }]} />
      <section class="card" aria-label="Plan document">
        <PlanEditor onSaved={(p) => route(planHref(p.id))} />
      </section>
    </>
  );
}

function ExistingPlan({ id }: { id: string }) {
  const plan = useResource((signal) => unwrap(api().GET("/plan/{id}", { params: { path: { id } }, signal })), [id]);
  const envs = useResource((signal) => unwrap(api().GET("/environment", { params: { query: { limit: 200 } }, signal })), []);
  const environments = (envs.data?.environments ?? []).map((e) => e.name);

  if (plan.loading) return <Loading what="Loading the plan" />;
  if (!plan.data) {
    return (
      <>
        <PageHeader title="Plan" crumbs={[{ href: "/", label: "Overview" }]} />
        <ErrorView error={plan.error} what="Could not load the plan" />
      </>
    );
  }
  const p = plan.data;
  return (
    <>
      <PageHeader title={p.name} crumbs={[{ href: "/", label: "Overview" }]}>
        {p.description && <p class="lede">{p.description}</p>}
        <PlanFacts plan={p} />
        <nav aria-label="On this page" class="toc">
          <a href="#run-title">Run now</a>
          <a href="#trends-title">Trends</a>
          <a href="#executions-title">Executions</a>
          <a href="#schedules-title">Schedules</a>
          <a href="#alerts-title">Alert rules</a>
          <a href="#document-title">Document</a>
        </nav>
      </PageHeader>
      <ErrorView error={plan.error} what="Could not reload the plan" />

      <section class="card" id="run">
        <RunNow plan={p} environments={environments} />
      </section>

      <section class="card" aria-labelledby="trends-title">
        <PlanTrends planId={p.id} />
      </section>

      <section class="card" aria-labelledby="executions-title">
        <h2 id="executions-title">Executions</h2>
        <ExecutionList planId={p.id} />
      </section>

      <section class="card" aria-labelledby="schedules-title">
        <h2 id="schedules-title">Schedules</h2>
        <Schedules planId={p.id} environments={environments} />
      </section>

      <section class="card" aria-labelledby="alerts-title">
        <div class="card-header">
          <h2 id="alerts-title">Alert rules</h2>
          <a href="/ui/channels">Channels</a>
        </div>
        <AlertRules planId={p.id} />
      </section>

      <section class="card" aria-labelledby="document-title">
        <h2 id="document-title">Document</h2>
        <StepsSummary plan={p} />
        <details class="editor-details">
          <summary>Edit as JSON</summary>
          <PlanEditor plan={p} onSaved={() => plan.reload()} />
        </details>
      </section>
    </>
  );
}

function PlanFacts({ plan }: { plan: Plan }) {
  const labels = Object.entries(plan.labels);
  return (
    <dl class="facts inline-facts">
      <dt>Revision</dt>
      <dd>{plan.revision}</dd>
      <dt>Updated</dt>
      <dd>
        <time title={formatTime(plan.updated_at)}>{formatAgo(plan.updated_at)}</time>
      </dd>
      <dt>Retention</dt>
      <dd>{plan.retention ?? "server default"}</dd>
      {labels.length > 0 && (
        <>
          <dt>Labels</dt>
          <dd>
            <ul class="inline-list">
              {labels.map(([k, v]) => (
                <li key={k} class="label-chip">
                  {k}: {v}
                </li>
              ))}
            </ul>
          </dd>
        </>
      )}
    </dl>
  );
}

/** StepsSummary shows the plan's steps as a table people can read at a glance. */
function StepsSummary({ plan }: { plan: Plan }) {
  const vars = Object.entries(plan.document.variables ?? {});
  return (
    <>
      {vars.length > 0 && (
        <p>
          <span class="muted">Variables: </span>
          {vars.map(([k, v], i) => (
            <span key={k}>
              {i > 0 && ", "}
              <code>{k}</code> = <code>{v}</code>
            </span>
          ))}
        </p>
      )}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Step</th>
              <th scope="col">Request</th>
              <th scope="col">Checks</th>
            </tr>
          </thead>
          <tbody>
            {plan.document.steps.map((s, i) => (
              <tr key={i}>
                <td class="num">{i + 1}</td>
                <td>{s.name}</td>
                <td>
                  <code>
                    {s.request.method} {s.request.url}
                  </code>
                </td>
                <td>{checksOf(s)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function checksOf(step: Plan["document"]["steps"][number]): string {
  const a = step.assert;
  const parts: string[] = [];
  if (a?.status?.length) parts.push(`status ${a.status.join("/")}`);
  if (a?.headers?.length) parts.push(`${a.headers.length} header${a.headers.length > 1 ? "s" : ""}`);
  if (a?.jsonpath?.length) parts.push(`${a.jsonpath.length} JSONPath`);
  if (a?.body_contains?.length) parts.push(`body contains ${a.body_contains.length}`);
  if (a?.max_latency_ms) parts.push(`≤ ${a.max_latency_ms} ms`);
  if (step.capture?.length) parts.push(`captures ${step.capture.map((c) => c.name).join(", ")}`);
  return parts.join("; ") || "any response";
}
