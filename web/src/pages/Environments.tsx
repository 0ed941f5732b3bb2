/**
 * EnvironmentsPage lists the server's environments (named sets of
 * variables that an execution can run with) and creates, edits and deletes
 * them. An edit sends the revision it started from (If-Match), so a change
 * made meanwhile by someone else is reported, not overwritten.
 */
import "../admin.css";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, isProblemError, unwrap, type components } from "../api";
import { ConfirmButton } from "../components/ConfirmButton";
import { ErrorView, Loading } from "../components/ErrorView";
import { Field } from "../components/Field";
import { PageHeader } from "../components/Layout";
import { TableWrap } from "../components/TableWrap";
import { Pager, useKeysetPager } from "../components/Pager";
import { formatAgo, formatTime } from "../format";
import { etag, fieldErrors, parseStringMap } from "../forms";
import { useResource } from "../resource";

type Environment = components["schemas"]["Environment"];

/** EnvironmentsPage is the page at /ui/environments. */
export function EnvironmentsPage() {
  const pager = useKeysetPager();
  const list = useResource(
    (signal) => unwrap(api().GET("/environment", { params: { query: { limit: 50, cursor: pager.cursor || undefined } }, signal })),
    [pager.cursor],
  );
  const [editing, setEditing] = useState<Environment | undefined>(undefined);
  const [deleteError, setDeleteError] = useState<unknown>(undefined);
  const [notice, setNotice] = useState("");

  const remove = async (name: string) => {
    setDeleteError(undefined);
    setNotice("");
    try {
      await unwrap(api().DELETE("/environment/{name}", { params: { path: { name } } }));
      if (editing?.name === name) setEditing(undefined);
      setNotice(`Deleted environment ${name}.`);
      list.reload();
    } catch (err) {
      setDeleteError(err);
    }
  };

  return (
    <>
      <PageHeader title="Environments" crumbs={[{ href: "/", label: "Overview" }]}>
        <p class="muted">
          An environment is a named set of variables. A run that names it uses them over the plan's own, for the
          variables the plan declares.
        </p>
      </PageHeader>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorView error={deleteError} what="Could not delete the environment" />
      <section class="card" aria-labelledby="env-list-title">
        <h2 id="env-list-title">All environments</h2>
        <ErrorView error={list.error} what="Could not load the environments" />
        {list.loading && <Loading />}
        {list.data && list.data.environments.length === 0 && <p class="empty">No environments yet. Create one below.</p>}
        {list.data && list.data.environments.length > 0 && (
          <TableWrap label="Environment list">
            <table class="stack-phone">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Description</th>
                  <th scope="col">Variables</th>
                  <th scope="col" class="num">
                    Revision
                  </th>
                  <th scope="col">Updated</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.data.environments.map((env) => (
                  <tr key={env.name}>
                    <th scope="row">
                      <code>{env.name}</code>
                    </th>
                    <td data-label="Description">{env.description || <span class="muted">—</span>}</td>
                    <td data-label="Variables">
                      <VariableNames variables={env.variables} />
                    </td>
                    <td class="num" data-label="Revision">
                      {env.revision}
                    </td>
                    <td data-label="Updated" title={formatTime(env.updated_at)}>
                      {formatAgo(env.updated_at)}
                    </td>
                    <td>
                      <div class="actions">
                        <button
                          type="button"
                          class="btn btn-small"
                          onClick={() => {
                            setNotice("");
                            setEditing(env);
                          }}
                        >
                          Edit<span class="visually-hidden"> {env.name}</span>
                        </button>
                        <ConfirmButton small label="Delete" subject={env.name} question={`Delete ${env.name}?`} onConfirm={() => remove(env.name)} />
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
        <Pager pager={pager} nextCursor={list.data?.next_cursor} label="Environment pages" />
      </section>
      <EnvironmentForm
        key={editing ? `${editing.name}@${editing.revision}` : "new"}
        editing={editing}
        onDone={(env, created) => {
          setEditing(undefined);
          setNotice(created ? `Created environment ${env.name}.` : `Saved environment ${env.name} (revision ${env.revision}).`);
          list.reload();
        }}
        onCancel={() => setEditing(undefined)}
      />
    </>
  );
}

/** VariableNames lists the names of an environment's variables, not their values. */
function VariableNames({ variables }: { variables: Record<string, string> }) {
  const names = Object.keys(variables).sort();
  if (names.length === 0) return <span class="muted">none</span>;
  return (
    <span>
      {names.map((n, i) => (
        <span key={n}>
          {i > 0 && ", "}
          <code>{n}</code>
        </span>
      ))}
    </span>
  );
}

interface EnvironmentFormProps {
  /** editing is the environment being edited, or undefined to create one. */
  editing: Environment | undefined;
  onDone: (env: Environment, created: boolean) => void;
  onCancel: () => void;
}

/** EnvironmentForm creates an environment, or edits the one given. */
function EnvironmentForm({ editing, onDone, onCancel }: EnvironmentFormProps) {
  const [name, setName] = useState(editing?.name ?? "");
  const [description, setDescription] = useState(editing?.description ?? "");
  const [variables, setVariables] = useState(editing ? JSON.stringify(editing.variables, null, 2) : "{}");
  const [localError, setLocalError] = useState("");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const firstField = useRef<HTMLInputElement>(null);

  // Starting an edit (from a row's Edit button) takes the keyboard to the form.
  useEffect(() => {
    if (editing) firstField.current?.focus();
  }, [editing]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setLocalError("");
    let vars: Record<string, string>;
    try {
      vars = parseStringMap(variables);
    } catch (err) {
      setLocalError(`Variables: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    setBusy(true);
    try {
      if (editing) {
        const env = await unwrap(
          api().PUT("/environment/{name}", {
            params: { path: { name: editing.name }, header: { "If-Match": etag(editing.revision) } },
            body: { description, variables: vars },
          }),
        );
        onDone(env, false);
      } else {
        const env = await unwrap(api().POST("/environment", { body: { name: name.trim(), description, variables: vars } }));
        onDone(env, true);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const stale = isProblemError(error, 412);
  const title = editing ? `Edit ${editing.name}` : "New environment";
  return (
    <section class="card" aria-labelledby="env-form-title">
      <h2 id="env-form-title">{title}</h2>
      <form onSubmit={submit} noValidate>
        {stale ? (
          <div class="alert" role="alert">
            <p>
              <strong>Someone changed {editing?.name} since you opened it.</strong> Cancel and edit it again to
              start from its current revision.
            </p>
          </div>
        ) : (
          <ErrorView error={error} what={editing ? "Could not save the environment" : "Could not create the environment"} />
        )}
        {!editing && (
          <Field
            id="env-name"
            label="Name"
            hint="Lowercase letters, digits, - and _, starting with a letter or digit (at most 63)."
            errors={fieldErrors(error, "name")}
          >
            <input type="text" required autocomplete="off" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </Field>
        )}
        <Field id="env-description" label="Description" errors={fieldErrors(error, "description")}>
          <input ref={firstField} type="text" value={description} onInput={(e) => setDescription((e.target as HTMLInputElement).value)} />
        </Field>
        <Field
          id="env-variables"
          label="Variables"
          hint='A JSON object of strings, e.g. {"base_url": "https://staging.example.com"}.'
          errors={[...(localError ? [localError] : []), ...fieldErrors(error, "variables")]}
        >
          <textarea rows={6} spellcheck={false} value={variables} onInput={(e) => setVariables((e.target as HTMLTextAreaElement).value)} />
        </Field>
        <div class="actions">
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {editing ? "Save changes" : "Create environment"}
          </button>
          {editing && (
            <button type="button" class="btn" onClick={onCancel}>
              Cancel
            </button>
          )}
        </div>
      </form>
    </section>
  );
}
