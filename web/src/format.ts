/** format.ts turns API values into short text for people. */

/** formatDuration writes milliseconds as "850 ms", "12.3 s", "4 min 05 s" or "2 h 03 min". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
  const totalS = Math.round(s);
  const m = Math.floor(totalS / 60);
  if (m < 60) return `${m} min ${String(totalS % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** durationBetween returns the milliseconds from start to end (or now), or undefined without a start. */
export function durationBetween(start: string | null | undefined, end: string | null | undefined): number | undefined {
  if (!start) return undefined;
  const a = Date.parse(start);
  const b = end ? Date.parse(end) : Date.now();
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, b - a) : undefined;
}

/** formatTime writes an RFC 3339 time in the reader's time zone, to the second. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** formatAgo writes how long ago an RFC 3339 time was: "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function formatAgo(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "—";
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const s = Math.round((now - t) / 1000);
  const a = Math.abs(s);
  const span =
    a < 60 ? `${a} s` : a < 3600 ? `${Math.floor(a / 60)} min` : a < 86400 ? `${Math.floor(a / 3600)} h` : `${Math.floor(a / 86400)} d`;
  return s < 0 ? `in ${span}` : `${span} ago`;
}

/** formatPercent writes a ratio (0..1) as a percentage, or "—" when there is none. */
export function formatPercent(ratio: number | null | undefined, digits = 0): string {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return "—";
  return `${(ratio * 100).toFixed(digits)} %`;
}

/**
 * shortId returns the last 8 characters of an ID, for tables; the full ID
 * goes in a title. Not the first 8: UUIDv7 IDs start with their creation
 * time, so IDs made in the same second share their first characters.
 */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(-8) : id;
}
