import { api, unwrap } from "../api";
import { ErrorView, Loading } from "../components/ErrorView";
import { PageHeader } from "../components/Layout";
import { StatusBadge } from "../components/StatusBadge";
import { formatAgo } from "../format";
import { planHref } from "../links";
import { useResource } from "../resource";

/** OverviewPage lists the plans with their latest status. */
export function OverviewPage() {
  const plans = useResource((signal) => unwrap(api().GET("/plan", { params: { query: { limit: 100 } }, signal })), [], {
    pollMs: 5000,
  });
  return (
    <>
      <PageHeader title="Overview" />
      <ErrorView error={plans.error} what="Could not load the plans" />
      {plans.loading && <Loading />}
      {plans.data && (
        <div class="card table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Plan</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {plans.data.plans.map((p) => (
                <tr key={p.id}>
                  <td>
                    <a href={planHref(p.id)}>{p.name}</a>
                  </td>
                  <td>
                    <StatusBadge status={null} /> {formatAgo(p.updated_at)}
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
