// "Is the publisher's ingest still there?", judged by the worker on its own clock.
//
// The ingest touches its publish sessions every TOUCH_PERIOD_MS (publish_sessions.last_seen_at).
// Comparing that timestamp to now() once is wrong right after a database outage: nobody could
// touch anything while Postgres was unreachable, so every session looks stale at the first
// answer and every live stream would be ended. Instead the worker watches the touch value
// advance across its own successful reads and counts how long it stood still — only over time
// in which its reads succeeded (and answered promptly). The ingest is gone after several missed
// touches counted that way; a stretch in which the database did not answer counts neither way.
import { PUBLISHER_STALE_SECONDS } from '../streams/transcode-core.js';

/** How often the ingest touches its publishers (src/ingest/rtmp-server.ts). */
export const TOUCH_PERIOD_MS = 5_000;
/** The touch value may stand still this long (counted as below) before the ingest counts as gone: three missed touches. */
export const SILENT_LIMIT_MS = PUBLISHER_STALE_SECONDS * 1000;

export type Verdict =
  | 'present' // touched recently enough (or not silent long enough yet)
  | 'ended' // the session is closed in the database (or gone from it)
  | 'gone' // the ingest stopped touching it: missed touches counted on the watcher's clock
  | 'away' // the publisher's connection broke and the publish waits for it (reconnect grace): nobody touches it, by design
  | 'unknown'; // the read failed: the database did not answer

export interface Reading {
  ended: boolean;
  /** The touch value (publish_sessions.last_seen_at, ms): compared only with earlier readings of itself. */
  lastSeenAt: number;
  /** last_seen_at within PUBLISHER_STALE_SECONDS of the database's now(): enough at a job's start, never after an outage alone. */
  fresh: boolean;
  /** Set while the publisher is away within its reconnect grace: nobody touches the publish then, by design. */
  reconnectLeftMs?: number | null;
}

/**
 * The pure rule. Each successful read reports when it started and answered (watcher's clock).
 * The time between two successful reads counts as silence when the touch value did not move,
 * at most one touch period per read (a worker stalled for a minute missed one look, not twelve
 * touches), and not at all when the read itself took longer than a touch period (the database
 * was not answering, so nobody could touch) or a read failed in between.
 */
export function createPublisherRule(o: { silentLimitMs?: number; maxStepMs?: number } = {}) {
  const limit = o.silentLimitMs ?? SILENT_LIMIT_MS;
  const maxStep = o.maxStepMs ?? TOUCH_PERIOD_MS;
  let value: number | null = null; // the touch value last seen
  let silentMs = 0;
  let lastOkAt: number | null = null; // when the previous successful read answered; null after a failed read
  let advances = 0; // how often the touch value moved since the watch began

  return {
    observe(r: Reading, at: { startedAt: number; answeredAt: number }): Exclude<Verdict, 'unknown'> {
      if (r.ended) return 'ended';
      if (r.reconnectLeftMs != null) {
        // away within its grace: untouched on purpose, and no ingest to lose (the grace decides)
        silentMs = 0;
        lastOkAt = at.answeredAt;
        return 'away';
      }
      const prompt = at.answeredAt - at.startedAt <= maxStep;
      if (value === null || r.lastSeenAt > value) {
        if (value !== null) advances += 1;
        value = r.lastSeenAt;
        silentMs = 0;
      } else if (lastOkAt !== null && prompt) {
        silentMs += Math.min(Math.max(0, at.answeredAt - lastOkAt), maxStep);
      }
      lastOkAt = at.answeredAt;
      return silentMs >= limit ? 'gone' : 'present';
    },
    /** A read that failed: the time up to the next successful read does not count. */
    failed(): void {
      lastOkAt = null;
    },
    /** How often the touch value moved since the watch began: a move means the ingest is alive. */
    advances: () => advances,
    silentMs: () => silentMs,
  };
}

export interface PublisherWatch {
  /** Reads the session once and judges; a read already under way is shared, never doubled (a frozen database does not pile reads up). */
  check(): Promise<Verdict>;
  /**
   * Waits until the watch can tell (reads that fail are retried): 'ended', 'gone', or 'present'
   * once the touch value advances while it waits — or, with freshIsEnough, as soon as a read finds
   * it fresh.
   * 'unknown' when the database did not answer enough within maxWaitMs.
   */
  settle(o: { freshIsEnough: boolean; maxWaitMs: number; everyMs?: number }): Promise<Verdict>;
}

export function watchPublisher(o: {
  /** Reads the session's heartbeat state (the stream core's publishState); null: no such session. */
  read: () => Promise<{ ended: boolean; lastSeenAt: number; fresh: boolean } | null>;
  rule?: ReturnType<typeof createPublisherRule>;
}): PublisherWatch {
  const rule = o.rule ?? createPublisherRule();
  let inFlight: Promise<{ verdict: Verdict; fresh: boolean }> | null = null;

  const read = () => {
    inFlight ??= (async () => {
      const startedAt = Date.now();
      try {
        const r = await o.read();
        const reading = r ?? { ended: true, lastSeenAt: 0, fresh: false };
        return { verdict: rule.observe(reading, { startedAt, answeredAt: Date.now() }), fresh: reading.fresh };
      } catch {
        rule.failed();
        return { verdict: 'unknown' as const, fresh: false };
      } finally {
        inFlight = null;
      }
    })();
    return inFlight;
  };

  return {
    check: async () => (await read()).verdict,
    async settle({ freshIsEnough, maxWaitMs, everyMs = 500 }) {
      const deadline = Date.now() + maxWaitMs;
      const advancesBefore = rule.advances();
      for (;;) {
        const { verdict, fresh } = await read();
        if (verdict === 'ended' || verdict === 'gone' || verdict === 'away') return verdict;
        if (verdict === 'present' && (rule.advances() > advancesBefore || (freshIsEnough && fresh))) return 'present';
        if (Date.now() >= deadline) return verdict === 'present' ? 'present' : 'unknown';
        await new Promise((r) => setTimeout(r, everyMs));
      }
    },
  };
}
