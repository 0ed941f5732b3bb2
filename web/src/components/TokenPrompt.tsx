/**
 * TokenPrompt asks for the API token when a call answered 401. The token is
 * kept in sessionStorage only (this tab) and sent as a bearer token.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { authEpoch, authRequired, hasToken, setToken } from "../api";
import { useObservable } from "../store";

/** TokenPrompt is a modal dialog that opens whenever authRequired is set. */
export function TokenPrompt() {
  const required = useObservable(authRequired);
  const dialog = useRef<HTMLDialogElement>(null);
  const [value, setValue] = useState("");

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (required && !d.open) d.showModal();
    if (!required && d.open) d.close();
  }, [required]);

  const onSubmit = (e: Event) => {
    e.preventDefault();
    const token = value.trim();
    if (!token) return;
    setValue("");
    setToken(token);
  };

  return (
    <dialog ref={dialog} class="dialog" aria-labelledby="token-title" onCancel={() => (authRequired.value = false)}>
      <form onSubmit={onSubmit} method="dialog">
        <h2 id="token-title">API token needed</h2>
        <p class="muted">
          {hasToken()
            ? "The server did not accept the stored token. Enter another one."
            : "This server asks for a bearer token (its ASTRO_API_TOKEN)."}{" "}
          It is kept for this browser tab only.
        </p>
        <label class="field">
          <span>Token</span>
          <input
            type="password"
            name="token"
            autocomplete="off"
            required
            value={value}
            onInput={(e) => setValue((e.target as HTMLInputElement).value)}
          />
        </label>
        <div class="actions">
          <button type="submit" class="btn btn-primary">
            Use token
          </button>
          <button type="button" class="btn" onClick={() => (authRequired.value = false)}>
            Cancel
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** TokenButton lets the reader set or forget the token from the header. */
export function TokenButton() {
  useObservable(authRequired);
  useObservable(authEpoch);
  const stored = hasToken();
  return (
    <button
      type="button"
      class="btn btn-small btn-ghost"
      onClick={() => (stored ? setToken("") : (authRequired.value = true))}
    >
      {stored ? "Forget token" : "Set token"}
    </button>
  );
}
