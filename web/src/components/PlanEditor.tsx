/**
 * PlanEditor edits a plan as JSON (the body of POST /plan and PUT
 * /plan/{id}) in a text area with line numbers. A JSON syntax error, and
 * every validation problem the API answers with (RFC 9457
 * errors[].location), is marked on its line and listed under the editor;
 * choosing a problem selects its value in the text.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { api, isProblemError, unwrap, type Plan, type PlanBody } from "../api";
import { JSONSyntaxError, locate, spans, type Span } from "../jsonpos";
import { ErrorView } from "./ErrorView";

/** NEW_PLAN_TEMPLATE is the text a new plan starts from. */
export const NEW_PLAN_TEMPLATE: PlanBody = {
  name: "",
  description: "",
  labels: {},
  document: {
    variables: { base_url: "http://127.0.0.1:9090" },
    steps: [
      {
        name: "Health check",
        request: { method: "GET", url: "{{base_url}}/api/v1/health" },
        assert: { status: [200] },
      },
    ],
  },
};

/** planBodyOf returns the editable body of a stored plan. */
export function planBodyOf(plan: Plan): PlanBody {
  const body: PlanBody = {
    name: plan.name,
    description: plan.description,
    labels: plan.labels,
    document: plan.document,
  };
  if (plan.retention !== null) body.retention = plan.retention;
  return body;
}

/** EditorProblem is one problem shown in the editor: its message, where, and the line it points at. */
interface EditorProblem {
  message: string;
  location?: string;
  span?: Span;
}

/** PlanEditorProps are PlanEditor's properties. */
export interface PlanEditorProps {
  /** plan is the stored plan, or undefined for a new one. */
  plan?: Plan;
  /** onSaved is called with the plan as the server answered after a save. */
  onSaved: (plan: Plan) => void;
}

/** PlanEditor renders the JSON editor with its save button and problems. */
export function PlanEditor({ plan, onSaved }: PlanEditorProps) {
  const initial = useMemo(() => JSON.stringify(plan ? planBodyOf(plan) : NEW_PLAN_TEMPLATE, null, 2), [plan]);
  const [text, setText] = useState(initial);
  const [problems, setProblems] = useState<EditorProblem[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);

  // A new revision from the server replaces the text.
  useEffect(() => {
    setText(initial);
    setProblems([]);
  }, [initial]);

  const dirty = text !== initial;
  const lines = text.split("\n").length;
  const badLines = new Map<number, string>();
  for (const p of problems) if (p.span) badLines.set(p.span.line, p.message);

  const select = (span: Span | undefined) => {
    const el = area.current;
    if (!el || !span) return;
    el.focus();
    el.setSelectionRange(span.start, span.end);
    // Scroll the selected line into view: about one line height per line.
    const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 20;
    el.scrollTop = Math.max(0, (span.line - 3) * lineHeight);
  };

  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setSaved(false);
    let map: Map<string, Span>;
    try {
      map = spans(text);
    } catch (err) {
      if (err instanceof JSONSyntaxError) {
        const span = { start: err.offset, end: err.offset + 1, line: err.line };
        setProblems([{ message: `Not JSON: ${err.message}`, span }]);
        select(span);
        return;
      }
      throw err;
    }
    const body = JSON.parse(text) as PlanBody;
    setSaving(true);
    try {
      const c = api();
      const next = plan
        ? await unwrap(
            c.PUT("/plan/{id}", {
              params: { path: { id: plan.id }, header: { "If-Match": `"${plan.revision}"` } },
              body,
            }),
          )
        : await unwrap(c.POST("/plan", { body }));
      setProblems([]);
      setSaved(true);
      onSaved(next);
    } catch (err) {
      if (isProblemError(err) && err.errors.length > 0) {
        const found = err.errors.map((d) => ({
          message: d.message ?? err.title,
          location: d.location,
          span: locate(map, d.location),
        }));
        setProblems(found);
        setError(err.status === 422 ? undefined : err);
        select(found.find((p) => p.span)?.span);
      } else if (isProblemError(err, 412)) {
        setProblems([]);
        setError(new Error("The plan changed since this page loaded it. Copy your edits, reload the page, and apply them again."));
      } else {
        setProblems([]);
        setError(err);
      }
    } finally {
      setSaving(false);
    }
  };

  return (
    <form onSubmit={save} class="plan-editor" aria-describedby="plan-editor-help">
      <p id="plan-editor-help" class="field-hint">
        The plan as JSON: <code>name</code>, <code>description</code>, <code>labels</code>, <code>retention</code> and
        the <code>document</code> with its <code>variables</code> and <code>steps</code>.
      </p>
      <div class="code-editor">
        <div class="gutter" ref={gutter} aria-hidden="true">
          <div class="gutter-lines">
          {Array.from({ length: lines }, (_, i) => (
            <div key={i} class={badLines.has(i + 1) ? "gutter-line bad" : "gutter-line"} title={badLines.get(i + 1)}>
              {badLines.has(i + 1) ? "✗ " : ""}
              {i + 1}
            </div>
          ))}
          </div>
        </div>
        <textarea
          ref={area}
          id="plan-json"
          aria-label="Plan JSON"
          aria-invalid={problems.length > 0 ? "true" : undefined}
          aria-describedby={problems.length > 0 ? "plan-problems" : undefined}
          spellcheck={false}
          wrap="off"
          rows={Math.min(Math.max(lines + 1, 12), 36)}
          value={text}
          onInput={(e) => {
            setText((e.target as HTMLTextAreaElement).value);
            setSaved(false);
          }}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop;
          }}
        />
      </div>
      {problems.length > 0 && (
        <div id="plan-problems" class="alert" role="alert">
          <p>
            <strong>
              {problems.length === 1 ? "1 problem" : `${problems.length} problems`} to fix before the plan can be saved:
            </strong>
          </p>
          <ul class="problem-list">
            {problems.map((p, i) => (
              <li key={i}>
                {p.span ? (
                  <button type="button" class="linkish" onClick={() => select(p.span)}>
                    Line {p.span.line}
                  </button>
                ) : null}
                {p.location && (
                  <>
                    {" "}
                    <code>{p.location}</code>
                  </>
                )}
                : <span class="problem-message">{p.message}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
      <ErrorView error={error} what="Could not save the plan" />
      <div class="actions">
        <button type="submit" class="btn btn-primary" disabled={saving || (!!plan && !dirty)}>
          {saving ? "Saving…" : plan ? "Save changes" : "Create plan"}
        </button>
        {plan && (
          <button
            type="button"
            class="btn"
            disabled={!dirty || saving}
            onClick={() => {
              setText(initial);
              setProblems([]);
              setError(undefined);
            }}
          >
            Discard changes
          </button>
        )}
        {saved && !dirty && (
          <span class="muted" role="status">
            Saved (revision {plan?.revision}).
          </span>
        )}
      </div>
    </form>
  );
}
