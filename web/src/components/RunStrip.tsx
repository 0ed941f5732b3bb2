/**
 * RunStrip shows a plan's recent runs as a row of small status squares,
 * oldest on the left, each a link to its execution with an accessible name
 * ("passed, 3 min ago, 1.2 s").
 */
import { formatAgo, formatDuration } from "../format";
import { executionHref } from "../links";
import { StatusDot } from "./StatusBadge";

/** RunSummary is what the strip needs of an execution. */
export interface RunSummary {
  id: string;
  status: string;
  trigger: string;
  created_at: string;
  finished_at: string | null;
  duration_ms: number | null;
}

/** RunStripProps are RunStrip's properties. */
export interface RunStripProps {
  /** runs are newest first, as the API lists them. */
  runs: readonly RunSummary[];
  /** label names the strip, e.g. "Last 20 runs of checkout". */
  label: string;
}

/** RunStrip renders the runs oldest first, as a list of linked dots. */
export function RunStrip({ runs, label }: RunStripProps) {
  if (runs.length === 0) return <span class="muted">no runs yet</span>;
  const ordered = [...runs].reverse();
  return (
    <ul class="strip" aria-label={label}>
      {ordered.map((r) => (
        <li key={r.id}>
          <StatusDot
            status={r.status}
            href={executionHref(r.id)}
            label={`${r.status}, ${r.trigger}, ${formatAgo(r.created_at)}${r.duration_ms != null ? `, ${formatDuration(r.duration_ms)}` : ""}`}
          />
        </li>
      ))}
    </ul>
  );
}
