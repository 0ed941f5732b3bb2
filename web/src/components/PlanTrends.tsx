/**
 * PlanTrends draws a plan's pass rate and p95 duration over time from GET
 * /plan/{id}/stats, with the window's totals and each step's pass rate and
 * p95 duration beside it.
 */
import { useMemo, useState } from "preact/hooks";
import { api, unwrap } from "../api";
import { formatDuration, formatPercent } from "../format";
import { useResource } from "../resource";
import { Chart, type ChartSeries } from "./Chart";
import { ErrorView, Loading } from "./ErrorView";

/** WINDOWS are the windows a reader can pick, with their bucket length. */
const WINDOWS = [
  { key: "24h", label: "24 hours", ms: 24 * 3600e3, bucket: "1h" },
  { key: "7d", label: "7 days", ms: 7 * 24 * 3600e3, bucket: "6h" },
  { key: "30d", label: "30 days", ms: 30 * 24 * 3600e3, bucket: "24h" },
] as const;

/** PlanTrends renders the trends of one plan. */
export function PlanTrends({ planId }: { planId: string }) {
  const [windowKey, setWindowKey] = useState<(typeof WINDOWS)[number]["key"]>("24h");
  const win = WINDOWS.find((w) => w.key === windowKey) ?? WINDOWS[0];
  const stats = useResource(
    (signal) => {
      const since = new Date(Date.now() - win.ms).toISOString();
      return unwrap(
        api().GET("/plan/{id}/stats", { params: { path: { id: planId }, query: { since, bucket: win.bucket } }, signal }),
      );
    },
    [planId, win.key],
    { pollMs: 30_000 },
  );

  const chart = useMemo(() => {
    const series = stats.data?.series ?? [];
    const times = series.map((b) => Math.floor(Date.parse(b.start) / 1000));
    const lines: ChartSeries[] = [
      {
        label: "Pass rate",
        scale: "%",
        values: series.map((b) => (b.pass_rate === null ? null : b.pass_rate * 100)),
        color: "#2f8f4e",
        range: [0, 100],
        format: (v) => `${Math.round(v)} %`,
      },
      {
        label: "p95 duration",
        scale: "ms",
        values: series.map((b) => b.duration_ms?.p95 ?? null),
        color: "#3a6fc4",
        // Small durations need a decimal, or the axis repeats "1 ms".
        format: (v) => (v < 10 ? `${v.toFixed(1)} ms` : formatDuration(v)),
      },
    ];
    return { times, lines };
  }, [stats.data]);

  const totals = stats.data?.totals;
  return (
    <>
      <div class="card-header">
        <h2 id="trends-title">Trends</h2>
        <div class="field inline-field">
          <label for="trend-window">Window</label>
          <select id="trend-window" value={windowKey} onChange={(e) => setWindowKey((e.target as HTMLSelectElement).value as typeof windowKey)}>
            {WINDOWS.map((w) => (
              <option key={w.key} value={w.key}>
                {w.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorView error={stats.error} what="Could not load the statistics" />
      {stats.loading && <Loading what="Loading statistics" />}
      {totals && (
        <dl class="stats">
          <div class="stat">
            <dt>Runs</dt>
            <dd>{totals.runs}</dd>
          </div>
          <div class="stat">
            <dt>Pass rate</dt>
            <dd>{formatPercent(totals.pass_rate, 1)}</dd>
          </div>
          <div class="stat">
            <dt>p50 duration</dt>
            <dd>{formatDuration(totals.duration_ms?.p50)}</dd>
          </div>
          <div class="stat">
            <dt>p95 duration</dt>
            <dd>{formatDuration(totals.duration_ms?.p95)}</dd>
          </div>
        </dl>
      )}
      {stats.data && totals && totals.runs > 0 && (
        <Chart
          times={chart.times}
          series={chart.lines}
          caption={`Pass rate and p95 duration per ${win.bucket} over the last ${win.label}: ${totals.runs} runs, pass rate ${formatPercent(totals.pass_rate, 1)}, p95 ${formatDuration(totals.duration_ms?.p95)}.`}
        />
      )}
      {stats.data && totals?.runs === 0 && <p class="muted">No finished runs in this window.</p>}
      {stats.data && stats.data.steps.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">Steps over the last {stats.data.step_runs} runs</caption>
            <thead>
              <tr>
                <th scope="col">Step</th>
                <th scope="col" class="num">
                  Pass rate
                </th>
                <th scope="col" class="num">
                  Failed
                </th>
                <th scope="col" class="num">
                  Errors
                </th>
                <th scope="col" class="num">
                  p95
                </th>
              </tr>
            </thead>
            <tbody>
              {stats.data.steps.map((s) => (
                <tr key={`${s.index}-${s.name}`}>
                  <td>
                    <span class="muted">{s.index + 1}.</span> {s.name}
                  </td>
                  <td class="num">{formatPercent(s.pass_rate)}</td>
                  <td class="num">{s.failed}</td>
                  <td class="num">{s.error}</td>
                  <td class="num">{formatDuration(s.duration_ms?.p95)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
