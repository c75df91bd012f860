// Which viewer lines the collector may fold: a line names a session (in the viewer id) and a
// rendition (the directory of the path nginx served). It is folded only when that session exists,
// has a stream, and the rendition is one that stream produces (its `renditions`, as
// GET /api/streams/:id shows them, written when it went live) or the master playlist. Anything
// else — a session with no stream, a directory that is no rendition — says nothing about viewers.
// A replay's line (a recording, src/recordings/) is folded when its session exists, stream or not
// (the stream may be gone since): nginx served it only for a ready recording of that session.
// What sessions are is cached per session id, and looked up again, at most every RECHECK_MS,
// when a line would be refused (a stream that just went live, a stream assigned meanwhile).
// Both caches are LRUs of a fixed size: ids that name no session (or one without a stream) have
// their own, so a flood of made-up ids costs bounded memory and never pushes real sessions out.
import type { Db } from '../db/pool.js';
import { sessionsForLines } from './repo.js';

/** A session's event and the rendition names its lines may carry. */
export interface LineSession {
  eventId: string;
  /** Whether the session has a stream now (live lines need one). */
  hasStream: boolean;
  /** The stream's playback id (where a low-latency part's segment is looked up, ll-parts.ts); null without a stream. */
  playbackId: string | null;
  renditions: ReadonlySet<string>;
}

/** How long a known session is trusted without a look-up (its event does not change). */
const KEEP_MS = 5 * 60_000;
/** A line that would be refused looks its session up again when the entry is older than this. */
const RECHECK_MS = 5_000;
/** Most sessions (and, apart, most unknown ids) kept in memory. */
export const SESSION_CACHE_MAX = 10_000;
/** Sessions per look-up query. */
const LOOKUP_CHUNK = 5_000;

interface Entry {
  session: LineSession | null; // null: no such session
  at: number;
}

export interface LineSessions {
  /** The sessions of these lines, looked up where the cache cannot answer; throws when Postgres does. */
  resolve(lines: { sessionId: string; rendition: string; replay?: boolean }[], now: number): Promise<Map<string, LineSession | null>>;
  /** Entries held now: sessions, and ids that are not (bounded apart). */
  size(): { known: number; unknown: number };
}

/** A Map that forgets its least recently used entry beyond max. */
class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get size() {
    return this.map.size;
  }
  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k); // most recently used last
      this.map.set(k, v);
    }
    return v;
  }
  set(k: K, v: V) {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }
  delete(k: K) {
    this.map.delete(k);
  }
}

/** Whether a line of this rendition belongs to the session's stream. */
export const acceptsRendition = (s: LineSession | null, rendition: string) => s !== null && s.hasStream && (rendition === 'master' || s.renditions.has(rendition));
/** Whether a line is the session's: a live one of its stream's renditions, or a replay of any of its recordings. */
export const acceptsLine = (s: LineSession | null, l: { rendition: string; replay?: boolean }) => (l.replay ? s !== null : acceptsRendition(s, l.rendition));

export function createLineSessions(o: { db: Db; max?: number }): LineSessions {
  const known = new Lru<string, Entry>(o.max ?? SESSION_CACHE_MAX);
  const unknown = new Lru<string, Entry>(o.max ?? SESSION_CACHE_MAX);
  const cached = (id: string) => known.get(id) ?? unknown.get(id);
  const remember = (id: string, e: Entry) => {
    if (e.session) (unknown.delete(id), known.set(id, e));
    else (known.delete(id), unknown.set(id, e));
  };

  return {
    async resolve(lines, now) {
      const byId = new Map<string, { rendition: string; replay?: boolean }[]>();
      for (const l of lines) {
        const r = byId.get(l.sessionId);
        if (r) r.push(l);
        else byId.set(l.sessionId, [l]);
      }
      const out = new Map<string, LineSession | null>();
      const lookup: string[] = [];
      for (const [id, renditions] of byId) {
        const e = cached(id);
        const age = e ? now - e.at : Infinity;
        if (age > KEEP_MS || (age > RECHECK_MS && renditions.some((r) => !acceptsLine(e!.session, r)))) lookup.push(id);
        else out.set(id, e!.session);
      }
      for (let i = 0; i < lookup.length; i += LOOKUP_CHUNK) {
        const ids = lookup.slice(i, i + LOOKUP_CHUNK);
        const rows = new Map((await sessionsForLines(o.db, ids)).map((r) => [r.id, r]));
        for (const id of ids) {
          const r = rows.get(id);
          const session = r ? { eventId: r.eventId, hasStream: r.hasStream, playbackId: r.playbackId, renditions: new Set(r.renditions) } : null;
          remember(id, { session, at: now });
          out.set(id, session);
        }
      }
      return out;
    },
    size: () => ({ known: known.size, unknown: unknown.size }),
  };
}
