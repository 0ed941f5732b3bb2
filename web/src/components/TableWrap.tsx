/**
 * TableWrap holds a table that may scroll sideways on a narrow screen. The
 * scrolling box is a named region that takes focus, so keyboard users can
 * scroll it too (axe: scrollable-region-focusable).
 */
import type { ComponentChildren } from "preact";

/** TableWrap renders children in a focusable, labelled, horizontally scrolling box. */
export function TableWrap({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}
