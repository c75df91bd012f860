// What a person's click or form does, the same way everywhere: the step runs, a refusal is shown
// in the server's words (and nothing else changes), and what should follow a success (reading
// the page's data again) follows.
import { useEffect } from 'preact/hooks';
import { ApiError } from './api.js';

export function action(setError: (e: string | null) => void, then?: () => Promise<unknown>) {
  return (fn: () => Promise<unknown>) => async () => {
    setError(null);
    try {
      await fn();
      await then?.();
    } catch (err) {
      setError(err instanceof ApiError ? err.words : 'That did not work.');
    }
  };
}

/** Runs `load` now and every `ms` while the component is shown (and again when `deps` change). */
export function usePolling(load: () => unknown, ms: number, deps: unknown[]): void {
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), ms);
    return () => clearInterval(t);
  }, deps);
}
