/**
 * SecretsPage lists the names of the stored secrets (never their values:
 * the API has no route that returns one), stores a new value under a name,
 * and deletes secrets. Values are write-only: the form forgets the value as
 * soon as it is saved.
 */
import "../admin.css";
import { useRef, useState } from "preact/hooks";
import { api, isProblemError, unwrap } from "../api";
import { ConfirmButton } from "../components/ConfirmButton";
import { ErrorView, Loading } from "../components/ErrorView";
import { Field } from "../components/Field";
import { PageHeader } from "../components/Layout";
import { TableWrap } from "../components/TableWrap";
import { formatAgo, formatTime } from "../format";
import { fieldErrors } from "../forms";
import { useResource } from "../resource";

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** SecretsPage is the page at /ui/secrets. */
export function SecretsPage() {
  const list = useResource((signal) => unwrap(api().GET("/secret", { signal })), []);
  const [notice, setNotice] = useState("");
  const [deleteError, setDeleteError] = useState<unknown>(undefined);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [localError, setLocalError] = useState("");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const valueInput = useRef<HTMLInputElement>(null);

  // Without ASTRO_SECRET_KEY the secret routes answer 409.
  const disabled = isProblemError(list.error, 409);

  const remove = async (secret: string) => {
    setDeleteError(undefined);
    setNotice("");
    try {
      await unwrap(api().DELETE("/secret/{name}", { params: { path: { name: secret } } }));
      setNotice(`Deleted secret ${secret}.`);
      list.reload();
    } catch (err) {
      setDeleteError(err);
    }
  };

  const save = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setLocalError("");
    setNotice("");
    const n = name.trim();
    if (!SECRET_NAME.test(n) || n.length > 100) {
      setLocalError("Letters, digits and _, not starting with a digit, at most 100 characters.");
      return;
    }
    setBusy(true);
    try {
      const res = await api().PUT("/secret/{name}", { params: { path: { name: n } }, body: { value } });
      if (!res.response.ok) await unwrap(Promise.resolve(res));
      setValue("");
      setName("");
      setNotice(res.response.status === 201 ? `Stored secret ${n}.` : `Replaced the value of ${n}.`);
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const secrets = list.data?.secrets ?? [];
  return (
    <>
      <PageHeader title="Secrets" crumbs={[{ href: "/", label: "Overview" }]}>
        <p class="muted">
          Plans use a secret as <code>{"{{secret.NAME}}"}</code>. Values are stored encrypted and are never shown
          again, here or anywhere else; results show them as redacted.
        </p>
      </PageHeader>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorView error={deleteError} what="Could not delete the secret" />
      {disabled ? (
        <div class="notice" role="status">
          <p>
            <strong>Secrets are off on this server.</strong> Start it with <code>ASTRO_SECRET_KEY</code> (or{" "}
            <code>ASTRO_SECRET_KEY_FILE</code>) to store secrets.
          </p>
          {isProblemError(list.error) && list.error.detail && <p class="muted">{list.error.detail}</p>}
        </div>
      ) : (
        <>
          <section class="card" aria-labelledby="secret-list-title">
            <h2 id="secret-list-title">Stored secrets</h2>
            <ErrorView error={list.error} what="Could not load the secrets" />
            {list.loading && <Loading />}
            {list.data && secrets.length === 0 && <p class="empty">No secrets yet.</p>}
            {secrets.length > 0 && (
              <TableWrap label="Secret list">
                <table class="stack-phone">
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Value</th>
                      <th scope="col">Stored</th>
                      <th scope="col">Last replaced</th>
                      <th scope="col">
                        <span class="visually-hidden">Actions</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {secrets.map((s) => (
                      <tr key={s.name}>
                        <th scope="row">
                          <code>{s.name}</code>
                        </th>
                        <td class="muted" data-label="Value">
                          hidden
                        </td>
                        <td data-label="Stored" title={formatTime(s.created_at)}>
                          {formatAgo(s.created_at)}
                        </td>
                        <td data-label="Last replaced" title={formatTime(s.updated_at)}>
                          {formatAgo(s.updated_at)}
                        </td>
                        <td>
                          <div class="actions">
                            <button
                              type="button"
                              class="btn btn-small"
                              onClick={() => {
                                setName(s.name);
                                setValue("");
                                valueInput.current?.focus();
                              }}
                            >
                              Replace value<span class="visually-hidden"> of {s.name}</span>
                            </button>
                            <ConfirmButton small label="Delete" subject={s.name} question={`Delete ${s.name}?`} onConfirm={() => remove(s.name)} />
                          </div>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableWrap>
            )}
          </section>
          <section class="card" aria-labelledby="secret-form-title">
            <h2 id="secret-form-title">Store a secret</h2>
            <p class="muted">A name that exists already gets the new value.</p>
            <form onSubmit={save} noValidate>
              <ErrorView error={error} what="Could not store the secret" />
              <div class="fields-row">
                <Field id="secret-name" label="Name" hint="e.g. API_TOKEN" errors={localError ? [localError] : []}>
                  <input type="text" required autocomplete="off" spellcheck={false} value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
                </Field>
                <Field id="secret-value" label="Value" hint="4 bytes to 64 KiB; write-only." errors={fieldErrors(error, "value")}>
                  <input
                    ref={valueInput}
                    type="password"
                    required
                    autocomplete="new-password"
                    value={value}
                    onInput={(e) => setValue((e.target as HTMLInputElement).value)}
                  />
                </Field>
              </div>
              <div class="actions">
                <button type="submit" class="btn btn-primary" disabled={busy}>
                  Save secret
                </button>
              </div>
            </form>
          </section>
        </>
      )}
    </>
  );
}
