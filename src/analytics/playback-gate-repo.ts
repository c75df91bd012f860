// What the playback gate reads from Postgres: sessions that may be open now, with their neighbours
// on the stream and the stream's current publish; the bans on them. Times come with the database's
// clock, so every API node computes the same windows whatever its own clock says.
import type { Db } from '../db/pool.js';

export interface GateSessionRow {
  id: string;
  streamId: string;
  startsAt: Date;
  endsAt: Date;
  prevStartsAt: Date | null;
  prevEndsAt: Date | null;
  nextStartsAt: Date | null;
  publishStartedAt: Date | null;
  now: Date;
}

/**
 * Sessions with a stream whose window may hold now: started (minus the lead) and not ended (plus
 * the grace), or their stream's current publish began before their end plus the grace (running
 * over). Neighbours come from every session of the stream (a stream serves one session at a time).
 */
export async function candidateSessions(db: Db, o: { leadSeconds: number; graceSeconds: number; streamId?: string; at?: Date }): Promise<GateSessionRow[]> {
  const { rows } = await db.query<GateSessionRow>(
    {
      name: 'playback-gate-sessions',
      text: `WITH s AS (
               SELECT id, stream_id, starts_at, ends_at,
                      lag(starts_at) OVER w AS prev_starts_at, lag(ends_at) OVER w AS prev_ends_at,
                      lead(starts_at) OVER w AS next_starts_at
                 FROM event_sessions
                WHERE stream_id IS NOT NULL
               WINDOW w AS (PARTITION BY stream_id ORDER BY starts_at, id)
             )
             SELECT s.id, s.stream_id AS "streamId", s.starts_at AS "startsAt", s.ends_at AS "endsAt",
                    s.prev_starts_at AS "prevStartsAt", s.prev_ends_at AS "prevEndsAt", s.next_starts_at AS "nextStartsAt",
                    p.started_at AS "publishStartedAt", coalesce($4::timestamptz, now()) AS now
               FROM s
               LEFT JOIN publish_sessions p ON p.stream_id = s.stream_id AND p.ended_at IS NULL
              WHERE ($3::uuid IS NULL OR s.stream_id = $3)
                AND s.starts_at - make_interval(secs => $1) <= coalesce($4::timestamptz, now())
                AND (s.ends_at + make_interval(secs => $2) > coalesce($4::timestamptz, now()) OR p.started_at < s.ends_at + make_interval(secs => $2))`,
      values: [o.leadSeconds, o.graceSeconds, o.streamId ?? null, o.at ?? null],
    },
  );
  return rows;
}

/** Users banned now from the events of these sessions, per session. */
export async function bannedViewers(db: Db, sessionIds: string[]): Promise<{ sessionId: string; userId: string }[]> {
  if (sessionIds.length === 0) return [];
  const { rows } = await db.query<{ sessionId: string; userId: string }>({
    name: 'playback-gate-bans',
    text: `SELECT s.id AS "sessionId", r.user_id AS "userId"
             FROM event_sessions s
             JOIN event_restrictions r ON r.event_id = s.event_id AND r.kind = 'ban' AND (r.until IS NULL OR r.until > now())
            WHERE s.id = ANY($1::uuid[])`,
    values: [sessionIds],
  });
  return rows;
}

/** Ready recordings (src/recordings/), with their session: their replay URLs play, for who is not banned from it. */
export async function replayableRecordings(db: Db): Promise<{ id: string; sessionId: string | null }[]> {
  const { rows } = await db.query<{ id: string; sessionId: string | null }>({
    name: 'playback-gate-replays',
    text: `SELECT id, session_id AS "sessionId" FROM recordings WHERE status = 'ready'`,
  });
  return rows;
}
