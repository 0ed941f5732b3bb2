/**
 * ChannelsPage lists the alert channels (where alert rules send their
 * messages) and creates new ones. Each channel's own page edits it, sends a
 * test message and lists its deliveries.
 */
import "../admin.css";
import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { api, unwrap } from "../api";
import { ErrorView, Loading } from "../components/ErrorView";
import { PageHeader } from "../components/Layout";
import { TableWrap } from "../components/TableWrap";
import { Pager, useKeysetPager } from "../components/Pager";
import { formatAgo, formatTime } from "../format";
import { channelHref } from "../links";
import { useResource } from "../resource";
import { ChannelFields, channelBody, emptyChannelDraft, type ChannelDraft } from "../components/ChannelFields";

/** ChannelsPage is the page at /ui/channels. */
export function ChannelsPage() {
  const pager = useKeysetPager();
  const { route } = useLocation();
  const list = useResource(
    (signal) => unwrap(api().GET("/channel", { params: { query: { limit: 50, cursor: pager.cursor || undefined } }, signal })),
    [pager.cursor],
  );
  const [draft, setDraft] = useState<ChannelDraft>(emptyChannelDraft());
  const [localError, setLocalError] = useState<Partial<Record<keyof ChannelDraft, string>>>({});
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);

  const create = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    const built = channelBody(draft, "create");
    setLocalError(built.errors);
    if (!built.body) return;
    setBusy(true);
    try {
      const ch = await unwrap(api().POST("/channel", { body: { ...built.body, url: built.body.url ?? "" } }));
      route(channelHref(ch.id));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const channels = list.data?.channels ?? [];
  return (
    <>
      <PageHeader title="Channels" crumbs={[{ href: "/", label: "Overview" }]}>
        <p class="muted">
          Alert rules send their messages through channels: a signed webhook, or a Slack incoming webhook. Secrets,
          header values and Slack URLs are write-only.
        </p>
      </PageHeader>
      <section class="card" aria-labelledby="channel-list-title">
        <h2 id="channel-list-title">All channels</h2>
        <ErrorView error={list.error} what="Could not load the channels" />
        {list.loading && <Loading />}
        {list.data && channels.length === 0 && <p class="empty">No channels yet. Create one below.</p>}
        {channels.length > 0 && (
          <TableWrap label="Channel list">
            <table class="stack-phone">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">URL</th>
                  <th scope="col">Signed</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {channels.map((ch) => (
                  <tr key={ch.id}>
                    <th scope="row">
                      <a href={channelHref(ch.id)}>{ch.name}</a>
                    </th>
                    <td data-label="Kind">{ch.kind}</td>
                    <td class="mono" data-label="URL">
                      {ch.url}
                    </td>
                    <td data-label="Signed">{ch.has_secret ? "yes" : "no"}</td>
                    <td data-label="Updated" title={formatTime(ch.updated_at)}>
                      {formatAgo(ch.updated_at)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
        <Pager pager={pager} nextCursor={list.data?.next_cursor} label="Channel pages" />
      </section>
      <section class="card" aria-labelledby="channel-form-title">
        <h2 id="channel-form-title">New channel</h2>
        <form onSubmit={create} noValidate>
          <ErrorView error={error} what="Could not create the channel" />
          <ChannelFields draft={draft} onChange={setDraft} mode="create" error={error} localErrors={localError} />
          <div class="actions">
            <button type="submit" class="btn btn-primary" disabled={busy}>
              Create channel
            </button>
          </div>
        </form>
      </section>
    </>
  );
}
