// Lines a stranger can cause (refused connections, malformed input) must not let a flood flood
// the log: a token bucket per kind of line, whose held-back lines are counted into the next one.

export interface LogThrottle {
  /** null: drop this line; else how many lines of its kind were dropped since the last one. */
  take(kind: string): number | null;
}

export function createLogThrottle(o: { burst: number; everyMs: number; now?: () => number }): LogThrottle {
  const now = o.now ?? Date.now;
  // one entry per kind of line: the kinds are fixed strings in the code, so this stays small
  const kinds = new Map<string, { tokens: number; at: number; dropped: number }>();
  return {
    take(kind) {
      const t = now();
      const k = kinds.get(kind) ?? { tokens: o.burst, at: t, dropped: 0 };
      kinds.set(kind, k);
      k.tokens = Math.min(o.burst, k.tokens + (t - k.at) / o.everyMs);
      k.at = t;
      if (k.tokens < 1) {
        k.dropped += 1;
        return null;
      }
      k.tokens -= 1;
      const dropped = k.dropped;
      k.dropped = 0;
      return dropped;
    },
  };
}
