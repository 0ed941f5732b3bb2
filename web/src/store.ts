/**
 * store.ts is a very small observable value, and the hook that reads it in
 * a component, for the little state the whole app shares (the token prompt,
 * the auth epoch).
 */
import { useEffect, useState } from "preact/hooks";

/** Observable holds a value and tells subscribers when it changes. */
export class Observable<T> {
  private current: T;
  private readonly listeners = new Set<(value: T) => void>();

  constructor(initial: T) {
    this.current = initial;
  }

  /** value is the current value. */
  get value(): T {
    return this.current;
  }

  /** value, set to something different, notifies every subscriber. */
  set value(next: T) {
    if (Object.is(next, this.current)) return;
    this.current = next;
    for (const listener of [...this.listeners]) listener(next);
  }

  /** subscribe calls listener on every change until the returned function is called. */
  subscribe(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** useObservable returns obs's value and re-renders the component when it changes. */
export function useObservable<T>(obs: Observable<T>): T {
  const [value, setValue] = useState(obs.value);
  useEffect(() => {
    setValue(obs.value);
    return obs.subscribe(setValue);
  }, [obs]);
  return value;
}
