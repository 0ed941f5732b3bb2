/**
 * RunNow executes a plan now (POST /plan/{id}/execute) with an optional
 * environment and overrides for the variables the plan declares, then opens
 * the new execution.
 */
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, isProblemError, unwrap, type Plan } from "../api";
import { executionHref } from "../links";
import { ErrorView } from "./ErrorView";

/** RunNowProps are RunNow's properties. */
export interface RunNowProps {
  plan: Plan;
  environments: readonly string[];
}

/** RunNow renders the run form. */
export function RunNow({ plan, environments }: RunNowProps) {
  const { route } = useLocation();
  const declared = Object.entries(plan.document.variables ?? {});
  const [environment, setEnvironment] = useState("");
  const [overrides, setOverrides] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const variables = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== ""));
    try {
      const exec = await unwrap(
        api().POST("/plan/{id}/execute", {
          params: { path: { id: plan.id } },
          body: { ...(environment ? { environment } : {}), variables },
        }),
      );
      route(executionHref(exec.id));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const varError = (name: string) =>
    isProblemError(error) ? error.errors.find((d) => d.location === `body.variables.${name}`)?.message : undefined;

  return (
    <form onSubmit={submit} aria-labelledby="run-title">
      <h2 id="run-title">Run now</h2>
      <div class="fields-row">
        <div class="field">
          <label for="run-env">Environment</label>
          <select id="run-env" value={environment} onChange={(e) => setEnvironment((e.target as HTMLSelectElement).value)}>
            <option value="">none (the plan's variables)</option>
            {environments.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
      </div>
      {declared.length > 0 && (
        <fieldset class="vars">
          <legend>Variables (leave empty to keep the plan's or the environment's value)</legend>
          {declared.map(([name, value]) => {
            const err = varError(name);
            return (
              <div class="field" key={name}>
                <label for={`run-var-${name}`}>
                  <code>{name}</code>
                </label>
                <input
                  id={`run-var-${name}`}
                  placeholder={value}
                  value={overrides[name] ?? ""}
                  aria-invalid={err ? "true" : undefined}
                  onInput={(e) => setOverrides((o) => ({ ...o, [name]: (e.target as HTMLInputElement).value }))}
                />
                {err && <span class="field-error">{err}</span>}
              </div>
            );
          })}
        </fieldset>
      )}
      <ErrorView error={error} what="Could not start the run" />
      <div class="actions">
        <button type="submit" class="btn btn-primary" disabled={busy}>
          {busy ? "Starting…" : "Run now"}
        </button>
      </div>
    </form>
  );
}
