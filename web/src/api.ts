/**
 * api.ts holds the dashboard's one SDK client and its bearer token.
 *
 * Every API call goes through the TypeScript SDK (@astro-runner/client).
 * The token lives in sessionStorage only (key TOKEN_KEY) and is sent as
 * `Authorization: Bearer`. When any call answers 401, the app is told
 * (onAuthRequired) so that it can show the token prompt; saving a token
 * makes a new client and bumps the auth epoch, so that every mounted
 * resource loads again.
 */
import { createAstroClient, unwrap, type AstroClient } from "@astro-runner/client";
import { Observable } from "./store";

export { unwrap };
export {
  FINAL_STATUSES,
  ProblemError,
  isProblemError,
  type Execution,
  type ExecutionResult,
  type ExecutionStatus,
  type Plan,
  type PlanBody,
  type Problem,
  type ProblemDetail,
  type components,
} from "@astro-runner/client";

/** TOKEN_KEY is the sessionStorage key of the API token. */
export const TOKEN_KEY = "astro-runner-token";

/** authRequired is true after an API call answered 401, until a token is saved. */
export const authRequired = new Observable(false);

/** authEpoch changes whenever the token does; resources reload when it changes. */
export const authEpoch = new Observable(0);

function readToken(): string | undefined {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}

/** watchingFetch is fetch that raises authRequired when the server answers 401. */
async function watchingFetch(request: Request): Promise<Response> {
  const response = await globalThis.fetch(request);
  if (response.status === 401) authRequired.value = true;
  return response;
}

function makeClient(token: string | undefined): AstroClient {
  return createAstroClient({ baseUrl: window.location.origin, token, fetch: watchingFetch });
}

let current: AstroClient = makeClient(readToken());

/** api returns the current SDK client (a new one after the token changes). */
export function api(): AstroClient {
  return current;
}

/** hasToken reports whether a token is stored for this tab. */
export function hasToken(): boolean {
  return readToken() !== undefined;
}

/**
 * setToken stores token for this browser tab (sessionStorage only), or
 * forgets it when token is empty, and makes every resource load again.
 */
export function setToken(token: string): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage may be disabled; the token then lasts until the page reloads.
  }
  current = makeClient(token || undefined);
  authRequired.value = false;
  authEpoch.value++;
}
