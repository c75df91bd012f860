// The origin's state: per (playbackId, rendition) the newest `llhls.part` message (feed.ts), its
// playlist as bytes (and gzipped, made once per message on first demand and shared by every
// waiter), and the requests held on it. A message wakes that rendition's waiters only: O(waiters
// of the rendition), nothing is polled.
//
// Bounded memory: at most `maxEntries` renditions are held (a playlist is a few KB, at most
// LL_PLAYLIST_MAX_BYTES); at the cap the least recently used entry without waiters makes room, and
// when every entry has waiters a new rendition is refused (the request gets 503, a message is
// dropped and logged). Entries idle for longer than `idleMs` (LAST_TTL_SECONDS: Redis forgets
// them then too) are swept.
import { gzipSync } from 'node:zlib';
import type { Log } from '../log.js';
import type { Redis } from '../redis/connection.js';
import { lastKey, llPartMessage, type LlPartMessage } from './feed.js';

export interface Entry {
  readonly playbackId: string;
  readonly rendition: string;
  msg: LlPartMessage | null;
  body: Buffer | null;
  gz: Buffer | null;
  touched: number;
  /** When lastKey was last read and held nothing (a stream not known: not asked again for NEGATIVE_MS). */
  missingAt: number;
  loading: Promise<void> | null;
  waiters: Set<Waiter>;
}

export interface Waiter {
  /** Called with the entry after every new message; `reset` when the presentation changed. Returns true when answered (then removed). */
  wake(entry: Entry, o: { reset: boolean }): boolean;
}

export interface OriginStateOptions {
  redis: Pick<Redis, 'get'>;
  prefix: string;
  log: Log;
  maxEntries: number;
  idleMs: number;
  /** Called per accepted message with now − its `at` (ms), for the lag metric. */
  onMessage?: (lagMs: number) => void;
  onDropped?: (why: 'invalid' | 'stale' | 'full') => void;
  now?: () => number;
}

/** A stream whose last key was missing is not asked for again this soon (a standard-mode stream's missing playlist, a typo). */
export const NEGATIVE_MS = 2_000;
const WARN_EVERY_MS = 60_000;

export type OriginState = ReturnType<typeof createOriginState>;

export function createOriginState(o: OriginStateOptions) {
  const now = o.now ?? Date.now;
  const entries = new Map<string, Entry>(); // insertion order = least recently used first
  const warned = new Map<string, { at: number; dropped: number }>();

  /** Logs a kind of problem at most once a minute, with how many were dropped since. */
  const warnSometimes = (kind: string, fields: Record<string, unknown>, msg: string) => {
    const w = warned.get(kind) ?? { at: 0, dropped: 0 };
    w.dropped++;
    if (now() - w.at >= WARN_EVERY_MS) {
      o.log.warn({ ...fields, droppedSinceLastWarning: w.dropped }, msg);
      w.at = now();
      w.dropped = 0;
    }
    warned.set(kind, w);
  };

  const keyOf = (playbackId: string, rendition: string) => `${playbackId}/${rendition}`;

  const touch = (key: string, e: Entry) => {
    e.touched = now();
    entries.delete(key);
    entries.set(key, e);
  };

  /** The entry for a rendition, made if missing (making room at the cap); null when full of held requests. */
  const entryFor = (playbackId: string, rendition: string): Entry | null => {
    const key = keyOf(playbackId, rendition);
    let e = entries.get(key);
    if (!e) {
      if (entries.size >= o.maxEntries && !evictOne()) return null;
      e = { playbackId, rendition, msg: null, body: null, gz: null, touched: now(), missingAt: 0, loading: null, waiters: new Set() };
    }
    touch(key, e);
    return e;
  };

  const evictOne = (): boolean => {
    for (const [key, e] of entries) {
      if (e.waiters.size === 0) {
        entries.delete(key);
        return true;
      }
    }
    return false;
  };

  /** Puts a message into its entry and wakes that entry's waiters. */
  const apply = (e: Entry, msg: LlPartMessage): void => {
    const old = e.msg;
    const reset = !!old && old.presentation !== msg.presentation;
    if (old && !reset && (msg.msn < old.msn || (msg.msn === old.msn && msg.part < old.part))) {
      o.onDropped?.('stale');
      return; // an older part of the same presentation (a late copy): the newer one stays
    }
    e.msg = msg;
    e.body = Buffer.from(msg.playlist, 'utf8');
    e.gz = null;
    e.missingAt = 0;
    for (const w of e.waiters) if (w.wake(e, { reset })) e.waiters.delete(w);
  };

  return {
    /** The bus handler: checks the message (a bad one is dropped and logged about once a minute, never thrown). */
    handle(raw: unknown): void {
      const parsed = llPartMessage.safeParse(raw);
      if (!parsed.success) {
        o.onDropped?.('invalid');
        const issue = parsed.error.issues[0];
        warnSometimes('invalid', { field: issue?.path.join('.'), problem: issue?.message }, 'Dropped an llhls.part message that does not match the feed (src/llhls/feed.ts).');
        return;
      }
      const msg = parsed.data;
      const e = entryFor(msg.playbackId, msg.rendition);
      if (!e) {
        o.onDropped?.('full');
        warnSometimes('full', { maxEntries: o.maxEntries }, 'Dropped an llhls.part message: the origin holds its most renditions, each with held requests.');
        return;
      }
      o.onMessage?.(now() - msg.at);
      apply(e, msg);
    },

    /**
     * The entry of a rendition, its newest message read from Redis (lastKey) if none came over the
     * bus yet (an origin that started or restarted mid-stream); `msg` stays null for a stream not
     * known. Null when the origin is full (answer 503).
     */
    async lookup(playbackId: string, rendition: string): Promise<Entry | null> {
      const e = entryFor(playbackId, rendition);
      if (!e || e.msg) return e;
      if (e.missingAt && now() - e.missingAt < NEGATIVE_MS) return e;
      e.loading ??= (async () => {
        try {
          const text = await o.redis.get(lastKey(o.prefix, playbackId, rendition));
          const parsed = text === null ? null : llPartMessage.safeParse(safeJson(text));
          if (parsed && !parsed.success) warnSometimes('invalid-last', {}, 'The newest llhls.part kept in Redis does not match the feed; ignored.');
          if (parsed?.success && !e.msg) apply(e, parsed.data);
          else if (!e.msg) e.missingAt = now();
        } catch (err) {
          warnSometimes('redis', { err: (err as Error).message }, 'Could not read the newest llhls.part from Redis; answering from what the bus brought.');
          e.missingAt = now();
        } finally {
          e.loading = null;
        }
      })();
      await e.loading;
      return e;
    },

    /** The playlist gzipped: made once per message, on first demand. */
    gzipOf(e: Entry): Buffer {
      e.gz ??= gzipSync(e.body!, { level: 6 });
      return e.gz;
    },

    /** Forgets entries idle for longer than idleMs (none with held requests). Returns how many. */
    sweep(): number {
      let n = 0;
      const limit = now() - o.idleMs;
      for (const [key, e] of entries) {
        if (e.touched < limit && e.waiters.size === 0) {
          entries.delete(key);
          n++;
        }
      }
      return n;
    },

    size: () => entries.size,
    /** Every held request, for shutdown. */
    allWaiters(): { entry: Entry; waiter: Waiter }[] {
      return [...entries.values()].flatMap((entry) => [...entry.waiters].map((waiter) => ({ entry, waiter })));
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
