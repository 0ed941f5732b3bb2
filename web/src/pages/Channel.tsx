/**
 * ChannelPage shows one alert channel: what is stored (write-only values
 * hidden), an edit form (sent with If-Match of the revision shown), "Send
 * test" (one sample message now, its outcome shown at once), delete, and
 * the channel's deliveries, newest first.
 */
import "../admin.css";
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, isProblemError, unwrap, type components } from "../api";
import { ConfirmButton } from "../components/ConfirmButton";
import { ErrorView, Loading } from "../components/ErrorView";
import { PageHeader } from "../components/Layout";
import { TableWrap } from "../components/TableWrap";
import { Pager, useKeysetPager } from "../components/Pager";
import { StatusBadge } from "../components/StatusBadge";
import { ChannelFields, channelBody, draftOf, type ChannelDraft } from "../components/ChannelFields";
import { formatAgo, formatDuration, formatTime, shortId } from "../format";
import { etag } from "../forms";
import { executionHref } from "../links";
import { useResource } from "../resource";

type Channel = components["schemas"]["Channel"];
type Delivery = components["schemas"]["Delivery"];

/** ChannelPage is the page at /ui/channels/:id. */
export function ChannelPage({ id }: { id: string }) {
  const { route } = useLocation();
  const channel = useResource((signal) => unwrap(api().GET("/channel/{id}", { params: { path: { id } }, signal })), [id]);
  const pager = useKeysetPager();
  const deliveries = useResource(
    (signal) =>
      unwrap(
        api().GET("/channel/{id}/deliveries", {
          params: { path: { id }, query: { limit: 25, cursor: pager.cursor || undefined } },
          signal,
        }),
      ),
    [id, pager.cursor],
    { pollMs: pager.page === 1 ? 5000 : undefined },
  );
  const [testResult, setTestResult] = useState<Delivery | undefined>(undefined);
  const [testError, setTestError] = useState<unknown>(undefined);
  const [testing, setTesting] = useState(false);
  const [deleteError, setDeleteError] = useState<unknown>(undefined);
  const [saved, setSaved] = useState("");

  const sendTest = async () => {
    setTesting(true);
    setTestError(undefined);
    setTestResult(undefined);
    try {
      setTestResult(await unwrap(api().POST("/channel/{id}/test", { params: { path: { id } } })));
      deliveries.reload();
    } catch (err) {
      setTestError(err);
    } finally {
      setTesting(false);
    }
  };

  const remove = async () => {
    setDeleteError(undefined);
    try {
      await unwrap(api().DELETE("/channel/{id}", { params: { path: { id } } }));
      route("/ui/channels");
    } catch (err) {
      setDeleteError(err);
    }
  };

  const ch = channel.data;
  const crumbs = [
    { href: "/", label: "Overview" },
    { href: "/ui/channels", label: "Channels" },
  ];
  if (!ch) {
    return (
      <>
        <PageHeader title="Channel" crumbs={crumbs} />
        <ErrorView error={channel.error} what="Could not load the channel" />
        {channel.loading && <Loading />}
      </>
    );
  }
  return (
    <>
      <PageHeader
        title={`Channel ${ch.name}`}
        crumbs={crumbs}
        actions={
          <>
            <button type="button" class="btn btn-primary" disabled={testing} onClick={sendTest}>
              {testing ? "Sending…" : "Send test"}
            </button>
            <ConfirmButton label="Delete" question={`Delete ${ch.name} and its delivery log?`} onConfirm={remove} />
          </>
        }
      />
      <ErrorView error={deleteError} what="Could not delete the channel" />
      <ErrorView error={testError} what="Could not send the test message" />
      {testResult && <TestOutcome delivery={testResult} />}
      {saved && (
        <p class="notice" role="status">
          {saved}
        </p>
      )}
      <div class="grid">
        <section class="card" aria-labelledby="channel-facts-title">
          <h2 id="channel-facts-title">Details</h2>
          <dl class="facts">
            <dt>Kind</dt>
            <dd>{ch.kind}</dd>
            <dt>URL</dt>
            <dd class="mono">{ch.url}</dd>
            <dt>Signed</dt>
            <dd>{ch.has_secret ? "yes (X-Astro-Signature)" : "no"}</dd>
            <dt>Extra headers</dt>
            <dd>{ch.header_names.length ? ch.header_names.join(", ") : "none"}</dd>
            <dt>Revision</dt>
            <dd>{ch.revision}</dd>
            <dt>Created</dt>
            <dd>{formatTime(ch.created_at)}</dd>
            <dt>Updated</dt>
            <dd>{formatTime(ch.updated_at)}</dd>
            <dt>ID</dt>
            <dd class="mono">{ch.id}</dd>
          </dl>
        </section>
        <ChannelEditForm
          key={`${ch.id}@${ch.revision}`}
          channel={ch}
          onSaved={(next) => {
            setSaved(`Saved (revision ${next.revision}).`);
            channel.reload();
          }}
        />
      </div>
      <section class="card" aria-labelledby="deliveries-title">
        <div class="card-header">
          <h2 id="deliveries-title">Deliveries</h2>
          <button type="button" class="btn btn-small" onClick={deliveries.reload}>
            Refresh
          </button>
        </div>
        <ErrorView error={deliveries.error} what="Could not load the deliveries" />
        {deliveries.loading && <Loading />}
        {deliveries.data && deliveries.data.deliveries.length === 0 && (
          <p class="empty">No deliveries yet. "Send test" sends one now.</p>
        )}
        {deliveries.data && deliveries.data.deliveries.length > 0 && <DeliveryTable deliveries={deliveries.data.deliveries} />}
        <Pager pager={pager} nextCursor={deliveries.data?.next_cursor} label="Delivery pages" />
      </section>
    </>
  );
}

/** TestOutcome says what became of a test message. */
function TestOutcome({ delivery: d }: { delivery: Delivery }) {
  const ok = d.outcome === "delivered";
  return (
    <div class={ok ? "notice" : "alert"} role="status">
      <p>
        <strong>Test message {ok ? "delivered" : "not delivered"}</strong>:{" "}
        {d.status_code !== null ? `HTTP ${d.status_code}` : "no answer"} in {formatDuration(d.latency_ms)}
        {d.error ? ` — ${d.error}` : ""}
      </p>
      {d.response && <pre>{d.response}</pre>}
    </div>
  );
}

/** DeliveryTable lists delivery attempts. */
function DeliveryTable({ deliveries }: { deliveries: Delivery[] }) {
  return (
    <TableWrap label="Delivery list">
      <table class="stack-phone">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Event</th>
            <th scope="col">Outcome</th>
            <th scope="col" class="num">
              Attempt
            </th>
            <th scope="col" class="num">
              Status
            </th>
            <th scope="col" class="num">
              Latency
            </th>
            <th scope="col">Execution</th>
            <th scope="col">Error or answer</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.map((d) => (
            <tr key={d.id}>
              <td data-label="When" title={formatTime(d.created_at)}>
                {formatAgo(d.created_at)}
              </td>
              <td data-label="Event">
                <code>{d.event}</code>
              </td>
              <td data-label="Outcome">
                <StatusBadge status={d.outcome} />
              </td>
              <td class="num" data-label="Attempt">
                {d.attempt}
              </td>
              <td class="num" data-label="Status">
                {d.status_code ?? "—"}
              </td>
              <td class="num" data-label="Latency">
                {formatDuration(d.latency_ms)}
              </td>
              <td data-label="Execution">
                {d.execution_id ? (
                  <a href={executionHref(d.execution_id)} title={d.execution_id}>
                    {shortId(d.execution_id)}
                  </a>
                ) : (
                  <span class="muted">—</span>
                )}
              </td>
              <td class="cell-text" data-label="Error or answer">{d.error || d.response || <span class="muted">—</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  );
}

/** ChannelEditForm replaces the channel, sending the revision it started from. */
function ChannelEditForm({ channel, onSaved }: { channel: Channel; onSaved: (ch: Channel) => void }) {
  const [draft, setDraft] = useState<ChannelDraft>(draftOf(channel));
  const [localErrors, setLocalErrors] = useState<Partial<Record<keyof ChannelDraft, string>>>({});
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const built = channelBody(draft, "edit");
    setLocalErrors(built.errors);
    if (!built.body) return;
    setBusy(true);
    try {
      const next = await unwrap(
        api().PUT("/channel/{id}", {
          params: { path: { id: channel.id }, header: { "If-Match": etag(channel.revision) } },
          body: built.body,
        }),
      );
      onSaved(next);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="channel-edit-title">
      <h2 id="channel-edit-title">Edit</h2>
      <form onSubmit={submit} noValidate>
        {isProblemError(error, 412) ? (
          <div class="alert" role="alert">
            <p>
              <strong>Someone changed this channel since the page loaded.</strong> Reload the page and edit it again.
            </p>
          </div>
        ) : (
          <ErrorView error={error} what="Could not save the channel" />
        )}
        <ChannelFields
          draft={draft}
          onChange={setDraft}
          mode="edit"
          error={error}
          localErrors={localErrors}
          hasSecret={channel.has_secret}
          headerNames={channel.header_names}
        />
        <div class="actions">
          <button type="submit" class="btn btn-primary" disabled={busy}>
            Save changes
          </button>
        </div>
      </form>
    </section>
  );
}
