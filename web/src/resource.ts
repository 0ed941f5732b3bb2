/**
 * resource.ts is the dashboard's one data hook: load something through the
 * SDK, keep it in state, load it again when its inputs or the token change,
 * and optionally poll it while a condition holds.
 */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { authEpoch } from "./api";
import { useObservable } from "./store";

/** Resource is what useResource returns. */
export interface Resource<T> {
  /** data is the last value loaded, kept while a reload or poll runs or fails. */
  data: T | undefined;
  /** error is the last load's error, or undefined after a success. */
  error: unknown;
  /** loading is true until the first load for the current inputs settles. */
  loading: boolean;
  /** reload loads again now, keeping data until the answer arrives. */
  reload: () => void;
}

/** ResourceOptions configures useResource. */
export interface ResourceOptions<T> {
  /** pollMs, if set, loads again this many milliseconds after each load settles. */
  pollMs?: number;
  /**
   * while decides, after each successful load, whether to keep polling
   * (e.g. "while the execution is not final"). Defaults to always.
   */
  while?: (data: T) => boolean;
}

/**
 * useResource calls load(signal) when the component mounts and whenever a
 * value in deps or the API token changes, and returns its state. A load
 * whose inputs changed before it settled is aborted and its answer ignored.
 * With opts.pollMs it loads again after each load settles, while
 * opts.while(data) holds and the page is visible; an error does not stop
 * the polling (the server may be restarting).
 */
export function useResource<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
  opts: ResourceOptions<T> = {},
): Resource<T> {
  const epoch = useObservable(authEpoch);
  const [nonce, setNonce] = useState(0);
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  // The latest load and options, so that polling uses them without restarting.
  const loadRef = useRef(load);
  loadRef.current = load;
  const optsRef = useRef(opts);
  optsRef.current = opts;

  // New inputs (not a reload) start from nothing.
  const depsKey = useRef<readonly unknown[] | null>(null);
  const changed = depsKey.current === null || !sameDeps(depsKey.current, deps);
  if (changed) depsKey.current = deps;

  useEffect(() => {
    const ctrl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;

    const schedule = (data: T | undefined) => {
      const { pollMs, while: keepGoing } = optsRef.current;
      if (stopped || !pollMs) return;
      if (data !== undefined && keepGoing && !keepGoing(data)) return;
      timer = setTimeout(run, pollMs);
    };

    const run = async () => {
      if (stopped) return;
      if (typeof document !== "undefined" && document.hidden) {
        // Do not poll a hidden tab; look again when it shows.
        document.addEventListener("visibilitychange", run, { once: true });
        return;
      }
      try {
        const data = await loadRef.current(ctrl.signal);
        if (stopped) return;
        setState({ data, error: undefined, loading: false });
        schedule(data);
      } catch (error) {
        if (stopped) return;
        setState((s) => ({ data: s.data, error, loading: false }));
        schedule(undefined);
      }
    };

    setState((s) => (changed ? { data: undefined, error: undefined, loading: true } : s));
    void run();
    return () => {
      stopped = true;
      ctrl.abort();
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", run);
    };
  }, [...deps, epoch, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { ...state, reload };
}

function sameDeps(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
}
