/**
 * StatusBadge shows a status as text, an icon and a colour together, so that
 * it reads without colour (or without the icon) too. It covers execution
 * statuses, job states, schedule and delivery states.
 */

/** Tone is the colour family of a status. */
export type Tone = "ok" | "bad" | "warn" | "run" | "idle";

interface Look {
  tone: Tone;
  icon: string;
}

const LOOKS: Record<string, Look> = {
  // Executions.
  passed: { tone: "ok", icon: "✓" },
  failed: { tone: "bad", icon: "✗" },
  error: { tone: "warn", icon: "!" },
  queued: { tone: "idle", icon: "◷" },
  running: { tone: "run", icon: "▶" },
  cancelled: { tone: "idle", icon: "⊘" },
  // Jobs.
  available: { tone: "idle", icon: "◷" },
  retryable: { tone: "warn", icon: "↻" },
  completed: { tone: "ok", icon: "✓" },
  discarded: { tone: "bad", icon: "✗" },
  // Schedules.
  active: { tone: "ok", icon: "▶" },
  paused: { tone: "idle", icon: "⏸" },
  // Deliveries.
  delivered: { tone: "ok", icon: "✓" },
  retrying: { tone: "warn", icon: "↻" },
};

const UNKNOWN: Look = { tone: "idle", icon: "–" };

/** statusLook returns the tone and icon of a status; unknown ones are neutral. */
export function statusLook(status: string | null | undefined): Look {
  return (status && LOOKS[status]) || UNKNOWN;
}

/** StatusBadgeProps are StatusBadge's properties. */
export interface StatusBadgeProps {
  /** status is the value to show, e.g. "passed"; empty shows "none". */
  status: string | null | undefined;
  /** label replaces the visible text (the colour and icon still follow status). */
  label?: string;
}

/** StatusBadge renders a status as icon + text on a tinted background. */
export function StatusBadge({ status, label }: StatusBadgeProps) {
  const look = statusLook(status);
  return (
    <span class={`badge tone-${look.tone}`}>
      <span class="badge-icon" aria-hidden="true">
        {look.icon}
      </span>
      {label ?? (status || "none")}
    </span>
  );
}

/** StatusDotProps are StatusDot's properties. */
export interface StatusDotProps {
  status: string | null | undefined;
  /** label is the accessible name and tooltip, e.g. "passed, 3 min ago". */
  label: string;
  /** href, if set, makes the dot a link. */
  href?: string;
}

/**
 * StatusDot is the compact form for strips of runs: a small coloured square
 * with the status icon, named by label for screen readers and tooltips.
 */
export function StatusDot({ status, label, href }: StatusDotProps) {
  const look = statusLook(status);
  const cls = `dot tone-${look.tone}`;
  if (href) {
    return (
      <a class={cls} href={href} aria-label={label} title={label}>
        <span aria-hidden="true">{look.icon}</span>
      </a>
    );
  }
  return (
    <span class={cls} role="img" aria-label={label} title={label}>
      <span aria-hidden="true">{look.icon}</span>
    </span>
  );
}
