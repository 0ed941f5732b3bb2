/**
 * Keyset paging for the dashboard's lists: the API hands out a next_cursor
 * per page; the pager remembers the cursors of the pages before, so that
 * "Previous" goes back without the API knowing.
 */
import { useState } from "preact/hooks";

/** KeysetPager is what useKeysetPager returns. */
export interface KeysetPager {
  /** cursor is the cursor of the page to load ("" for the first). */
  cursor: string;
  /** page is the 1-based number of the current page. */
  page: number;
  /** next moves to the page after the current one, given its next_cursor. */
  next: (nextCursor: string) => void;
  /** prev moves back one page. */
  prev: () => void;
  /** reset goes back to the first page (e.g. when a filter changes). */
  reset: () => void;
}

/** useKeysetPager keeps the stack of cursors of the pages visited. */
export function useKeysetPager(): KeysetPager {
  const [stack, setStack] = useState<string[]>([""]);
  return {
    cursor: stack[stack.length - 1] ?? "",
    page: stack.length,
    next: (c) => setStack((s) => (c ? [...s, c] : s)),
    prev: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
    reset: () => setStack([""]),
  };
}

/** PagerProps are Pager's properties. */
export interface PagerProps {
  pager: KeysetPager;
  /** nextCursor is the loaded page's next_cursor: empty on the last page. */
  nextCursor: string | undefined;
  /** label names the list for assistive technology, e.g. "Jobs pages". */
  label: string;
}

/** Pager renders Previous / page number / Next. */
export function Pager({ pager, nextCursor, label }: PagerProps) {
  if (pager.page === 1 && !nextCursor) return null;
  return (
    <nav class="actions pager" aria-label={label}>
      <button type="button" class="btn btn-small" disabled={pager.page === 1} onClick={pager.prev}>
        ← Previous
      </button>
      <span class="muted">Page {pager.page}</span>
      <button type="button" class="btn btn-small" disabled={!nextCursor} onClick={() => nextCursor && pager.next(nextCursor)}>
        Next →
      </button>
    </nav>
  );
}
