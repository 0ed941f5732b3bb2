/**
 * ErrorView shows an error from an API call: a problem document's title,
 * detail and individual errors, or any other error's message. A 401 is left
 * to the token prompt and shows only a short line.
 */
import { isProblemError } from "../api";

/** ErrorViewProps are ErrorView's properties. */
export interface ErrorViewProps {
  error: unknown;
  /** what says what failed, e.g. "Could not load the plan". */
  what?: string;
}

/** ErrorView renders error as an alert box; nothing for no error. */
export function ErrorView({ error, what }: ErrorViewProps) {
  if (error === undefined || error === null) return null;
  if (isProblemError(error, 401)) {
    return (
      <div class="notice" role="status">
        This server needs an API token.
      </div>
    );
  }
  const head = what ? `${what}: ` : "";
  if (isProblemError(error)) {
    return (
      <div class="alert" role="alert">
        <p>
          <strong>
            {head}
            {error.title} ({error.status})
          </strong>
          {error.detail ? ` — ${error.detail}` : ""}
        </p>
        {error.errors.length > 0 && (
          <ul>
            {error.errors.map((e, i) => (
              <li key={i}>
                {e.location && <code>{e.location}</code>} {e.message}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div class="alert" role="alert">
      <p>
        <strong>{head || "Error: "}</strong>
        {message}
      </p>
    </div>
  );
}

/** Loading is the placeholder shown while the first load runs. */
export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p class="muted" role="status">
      {what}…
    </p>
  );
}
