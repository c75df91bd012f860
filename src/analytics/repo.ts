// Reads for the analytics answers: what the roll-up wrote (viewer_minutes, session_minutes,
// event_minutes) and the engagement tables of the sessions in scope. A scope is a list of
// session ids: one session, or all of an event's.
import type { Db } from '../db/pool.js';

export interface Totals {
  uniqueViewers: number;
  watchMs: number;
  messages: number;
  senders: number;
  polls: number;
  votes: number;
  voters: number;
  questions: number;
  answered: number;
  upvotes: number;
}

export async function totals(db: Db, sessionIds: string[]): Promise<Totals> {
  const { rows } = await db.query<Record<keyof Totals, string>>(
    `SELECT
       (SELECT count(DISTINCT user_id) FROM viewer_minutes WHERE session_id = ANY($1)) AS "uniqueViewers",
       (SELECT coalesce(sum(watch_ms), 0) FROM viewer_minutes WHERE session_id = ANY($1)) AS "watchMs",
       c.messages, c.senders, p.polls, v.votes, v.voters, q.questions, q.answered, q.upvotes
     FROM (SELECT count(*) AS messages, count(DISTINCT user_id) AS senders FROM chat_messages WHERE session_id = ANY($1) AND deleted_at IS NULL) c,
          (SELECT count(*) AS polls FROM polls WHERE session_id = ANY($1)) p,
          (SELECT count(*) AS votes, count(DISTINCT pv.user_id) AS voters FROM poll_votes pv JOIN polls ON polls.id = pv.poll_id WHERE polls.session_id = ANY($1)) v,
          (SELECT count(*) AS questions, count(answered_at) AS answered, coalesce(sum(upvotes), 0) AS upvotes FROM questions WHERE session_id = ANY($1)) q`,
    [sessionIds],
  );
  const r = rows[0]!;
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])) as unknown as Totals;
}

export interface MinuteRow {
  minute: Date;
  viewers: number;
  peakViewers: number;
  peakAt: Date | null;
}

export async function sessionMinutes(db: Db, sessionId: string): Promise<MinuteRow[]> {
  const { rows } = await db.query<MinuteRow>(
    `SELECT minute, viewers, peak_viewers AS "peakViewers", peak_at AS "peakAt" FROM session_minutes WHERE session_id = $1 ORDER BY minute`,
    [sessionId],
  );
  return rows;
}

/** Per minute across an event's sessions: distinct people, and the event-wide peak. */
export async function eventMinutes(db: Db, eventId: string, sessionIds: string[]): Promise<MinuteRow[]> {
  const { rows } = await db.query<MinuteRow>(
    `SELECT coalesce(v.minute, e.minute) AS minute, coalesce(v.viewers, 0)::int AS viewers,
            coalesce(e.peak_viewers, 0) AS "peakViewers", e.peak_at AS "peakAt"
       FROM (SELECT minute, count(DISTINCT user_id) AS viewers FROM viewer_minutes WHERE session_id = ANY($2) GROUP BY minute) v
       FULL JOIN (SELECT minute, peak_viewers, peak_at FROM event_minutes WHERE event_id = $1) e ON e.minute = v.minute
      ORDER BY 1`,
    [eventId, sessionIds],
  );
  return rows;
}

export interface PersonActivity {
  userId: string;
  name: string;
  watchSeconds: number;
  messages: number;
  votes: number;
  questions: number;
  upvotes: number;
}

/** Everyone who joined the event or took part in the scope, with what they did there. */
export async function activityIn(db: Db, eventId: string, sessionIds: string[]): Promise<PersonActivity[]> {
  const { rows } = await db.query<PersonActivity>(
    `WITH w AS (SELECT user_id, sum(watch_ms) AS ms FROM viewer_minutes WHERE session_id = ANY($2) GROUP BY user_id),
          c AS (SELECT user_id, count(*) AS n FROM chat_messages WHERE session_id = ANY($2) AND deleted_at IS NULL AND user_id IS NOT NULL GROUP BY user_id),
          v AS (SELECT pv.user_id, count(*) AS n FROM poll_votes pv JOIN polls p ON p.id = pv.poll_id WHERE p.session_id = ANY($2) GROUP BY pv.user_id),
          q AS (SELECT user_id, count(*) AS n FROM questions WHERE session_id = ANY($2) AND user_id IS NOT NULL GROUP BY user_id),
          u AS (SELECT qu.user_id, count(*) AS n FROM question_upvotes qu JOIN questions q ON q.id = qu.question_id WHERE q.session_id = ANY($2) GROUP BY qu.user_id),
          people AS (SELECT user_id FROM event_attendees WHERE event_id = $1
                     UNION SELECT user_id FROM w UNION SELECT user_id FROM c UNION SELECT user_id FROM v
                     UNION SELECT user_id FROM q UNION SELECT user_id FROM u)
     SELECT users.id AS "userId", users.name,
            round(coalesce(w.ms, 0) / 1000.0)::int AS "watchSeconds",
            coalesce(c.n, 0)::int AS messages, coalesce(v.n, 0)::int AS votes,
            coalesce(q.n, 0)::int AS questions, coalesce(u.n, 0)::int AS upvotes
       FROM people JOIN users ON users.id = people.user_id
       LEFT JOIN w ON w.user_id = users.id LEFT JOIN c ON c.user_id = users.id LEFT JOIN v ON v.user_id = users.id
       LEFT JOIN q ON q.user_id = users.id LEFT JOIN u ON u.user_id = users.id`,
    [eventId, sessionIds],
  );
  return rows;
}

export interface ScopeSession {
  id: string;
  eventId: string;
  title: string;
  startsAt: Date;
  endsAt: Date;
}

export async function eventSessions(db: Db, eventId: string): Promise<ScopeSession[]> {
  const { rows } = await db.query<ScopeSession>(
    `SELECT id, event_id AS "eventId", title, starts_at AS "startsAt", ends_at AS "endsAt" FROM event_sessions WHERE event_id = $1 ORDER BY starts_at, id`,
    [eventId],
  );
  return rows;
}

/** Per session of an event: distinct viewers, watch time and the highest minute peak. */
export async function perSession(db: Db, sessionIds: string[]): Promise<Map<string, { uniqueViewers: number; watchMs: number; peakViewers: number }>> {
  const { rows } = await db.query<{ id: string; unique_viewers: number; watch_ms: string; peak: number }>(
    `SELECT s.id, coalesce(w.n, 0)::int AS unique_viewers, coalesce(w.ms, 0) AS watch_ms, coalesce(p.peak, 0) AS peak
       FROM unnest($1::uuid[]) AS s(id)
       LEFT JOIN (SELECT session_id, count(DISTINCT user_id) AS n, sum(watch_ms) AS ms FROM viewer_minutes WHERE session_id = ANY($1) GROUP BY session_id) w ON w.session_id = s.id
       LEFT JOIN (SELECT session_id, max(peak_viewers) AS peak FROM session_minutes WHERE session_id = ANY($1) GROUP BY session_id) p ON p.session_id = s.id`,
    [sessionIds],
  );
  return new Map(rows.map((r) => [r.id, { uniqueViewers: r.unique_viewers, watchMs: Number(r.watch_ms), peakViewers: r.peak }]));
}

/**
 * What the collector needs to accept viewer lines of these sessions: the event, and the names of
 * the renditions the session's stream produces (none when it has no stream, or has not gone live).
 */
export async function sessionsForLines(db: Db, ids: string[]): Promise<{ id: string; eventId: string; hasStream: boolean; playbackId: string | null; renditions: string[] }[]> {
  const { rows } = await db.query<{ id: string; event_id: string; has_stream: boolean; playback_id: string | null; renditions: string[] }>(
    `SELECT s.id, s.event_id, st.id IS NOT NULL AS has_stream, st.playback_id,
       ARRAY(SELECT r->>'name' FROM jsonb_array_elements(coalesce(st.renditions, '[]'::jsonb)) r) AS renditions
     FROM event_sessions s LEFT JOIN streams st ON st.id = s.stream_id
     WHERE s.id = ANY($1::uuid[])`,
    [ids],
  );
  return rows.map((r) => ({ id: r.id, eventId: r.event_id, hasStream: r.has_stream, playbackId: r.playback_id ?? null, renditions: r.renditions }));
}

/** What replays of recordings served in scope: rendition_minutes under "replay:" names (collector.ts). */
export async function replayServed(db: Db, sessionIds: string[]): Promise<{ segments: number; bytes: number }> {
  const { rows } = await db.query<{ segments: string; bytes: string }>(
    `SELECT coalesce(sum(segments), 0) AS segments, coalesce(sum(bytes), 0) AS bytes
       FROM rendition_minutes WHERE session_id = ANY($1::uuid[]) AND rendition LIKE 'replay:%'`,
    [sessionIds],
  );
  return { segments: Number(rows[0]!.segments), bytes: Number(rows[0]!.bytes) };
}
