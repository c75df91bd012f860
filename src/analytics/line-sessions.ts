// Which viewer lines the collector may fold: a line names a session (in the viewer id) and a
// rendition (the directory of the path nginx served). It is folded only when that session exists,
// has a stream, and the rendition is one that stream produces (its `renditions`, as
// GET /api/streams/:id shows them, written when it went live) or the master playlist. Anything
// else — a session with no stream, a directory that is no rendition — says nothing about viewers.
// What sessions are is cached per session id, and looked up again, at most every RECHECK_MS,
// when a line would be refused (a stream that just went live, a stream assigned meanwhile).
import type { Db } from '../db/pool.js';
import { sessionsForLines } from './repo.js';

/** A session's event and the rendition names its lines may carry. */
export interface LineSession {
  eventId: string;
  renditions: ReadonlySet<string>;
}

/** How long a known session is trusted without a look-up (its event does not change). */
const KEEP_MS = 5 * 60_000;
/** A line that would be refused looks its session up again when the entry is older than this. */
const RECHECK_MS = 5_000;
/** Sessions per look-up query. */
const LOOKUP_CHUNK = 5_000;

interface Entry {
  session: LineSession | null; // null: no such session, or it has no stream
  at: number;
}

export interface LineSessions {
  /** The sessions of these lines, looked up where the cache cannot answer; throws when Postgres does. */
  resolve(lines: { sessionId: string; rendition: string }[], now: number): Promise<Map<string, LineSession | null>>;
}

/** Whether a line of this rendition belongs to the session's stream. */
export const acceptsRendition = (s: LineSession | null, rendition: string) => s !== null && (rendition === 'master' || s.renditions.has(rendition));

export function createLineSessions(o: { db: Db }): LineSessions {
  const cache = new Map<string, Entry>();

  return {
    async resolve(lines, now) {
      const byId = new Map<string, string[]>();
      for (const l of lines) {
        const r = byId.get(l.sessionId);
        if (r) r.push(l.rendition);
        else byId.set(l.sessionId, [l.rendition]);
      }
      const lookup: string[] = [];
      for (const [id, renditions] of byId) {
        const e = cache.get(id);
        const age = e ? now - e.at : Infinity;
        if (age > KEEP_MS || (age > RECHECK_MS && renditions.some((r) => !acceptsRendition(e!.session, r)))) lookup.push(id);
      }
      for (let i = 0; i < lookup.length; i += LOOKUP_CHUNK) {
        const ids = lookup.slice(i, i + LOOKUP_CHUNK);
        const rows = await sessionsForLines(o.db, ids);
        for (const id of ids) cache.set(id, { session: null, at: now });
        for (const r of rows) {
          if (r.hasStream) cache.set(r.id, { session: { eventId: r.eventId, renditions: new Set(r.renditions) }, at: now });
        }
      }
      return new Map([...byId.keys()].map((id) => [id, cache.get(id)?.session ?? null]));
    },
  };
}
