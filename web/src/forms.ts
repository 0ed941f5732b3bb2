/**
 * forms.ts helps the dashboard's forms show what the API refused: a
 * ProblemError's errors carry `location` (`body.name`, `body.variables.x`),
 * and each field shows the messages for its own location.
 */
import { isProblemError } from "./api";

/**
 * fieldErrors returns the messages of error (a ProblemError) whose location
 * is `body.<field>` or lies under it (`body.<field>.x`, `body.<field>[0]`).
 */
export function fieldErrors(error: unknown, field: string): string[] {
  if (!isProblemError(error)) return [];
  const at = `body.${field}`;
  return error.errors
    .filter((e) => e.location === at || e.location?.startsWith(at + ".") || e.location?.startsWith(at + "["))
    .map((e) => (e.location && e.location !== at ? `${e.location.slice(5)}: ${e.message ?? ""}` : (e.message ?? "")));
}

/**
 * parseStringMap parses text as a JSON object of strings (`{"a": "1"}`), as
 * environments' variables and channels' headers are. Empty text is {}.
 * It throws an Error saying what is wrong.
 */
export function parseStringMap(text: string): Record<string, string> {
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error('must be a JSON object, such as {"base_url": "https://staging.example.com"}');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new Error(`the value of ${JSON.stringify(k)} must be a string`);
    out[k] = v;
  }
  return out;
}

/** etag returns a revision as the quoted ETag that If-Match expects. */
export function etag(revision: number): string {
  return `"${revision}"`;
}
