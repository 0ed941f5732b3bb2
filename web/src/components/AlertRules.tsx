/**
 * AlertRules lists the alert rules attached to a plan (GET
 * /alert-rule?plan_id=) with links to the channels they send to.
 */
import { api, unwrap } from "../api";
import { shortId } from "../format";
import { channelHref } from "../links";
import { useResource } from "../resource";
import { ErrorView, Loading } from "./ErrorView";

/** AlertRules renders the plan's rules. */
export function AlertRules({ planId }: { planId: string }) {
  const rules = useResource(
    (signal) => unwrap(api().GET("/alert-rule", { params: { query: { plan_id: planId, limit: 200 } }, signal })),
    [planId],
  );
  const channels = useResource((signal) => unwrap(api().GET("/channel", { params: { query: { limit: 200 } }, signal })), []);
  const names = new Map((channels.data?.channels ?? []).map((c) => [c.id, c.name]));

  return (
    <>
      <ErrorView error={rules.error} what="Could not load the alert rules" />
      {rules.loading && <Loading what="Loading alert rules" />}
      {rules.data && rules.data.rules.length === 0 && (
        <p class="muted">
          No alert rules watch this plan. Rules are created through the API (<code>POST /alert-rule</code>); channels are
          on the <a href="/ui/channels">channels page</a>.
        </p>
      )}
      {rules.data && rules.data.rules.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Sends</th>
                <th scope="col">To</th>
              </tr>
            </thead>
            <tbody>
              {rules.data.rules.map((r) => (
                <tr key={r.id}>
                  <td>{r.name || <span class="muted">unnamed</span>}</td>
                  <td>
                    {[
                      r.on_failure || r.after_consecutive_failures > 0
                        ? `failure${r.after_consecutive_failures > 1 ? ` after ${r.after_consecutive_failures} in a row` : ""}`
                        : null,
                      r.every_failure ? "every further failure" : null,
                      r.on_recovery ? "recovery" : null,
                    ]
                      .filter(Boolean)
                      .join(", ") || <span class="muted">nothing</span>}
                  </td>
                  <td>
                    <ul class="inline-list">
                      {r.channels.map((id) => (
                        <li key={id}>
                          <a href={channelHref(id)}>{names.get(id) ?? shortId(id)}</a>
                        </li>
                      ))}
                    </ul>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
