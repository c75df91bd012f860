// Raw SQL for event sessions and their speakers: one function per statement, db first.
import type { Db } from '../db/pool.js';
import type { StreamStatus } from '../streams/types.js';
import { VISIBLE_EVENT_SQL } from './repo.js';
import type { Session, SessionFields, VisibilityScope } from './types.js';

const SESSION_COLUMNS = `s.id, s.event_id, s.title, s.description, s.starts_at, s.ends_at, s.stream_id, s.created_at, s.updated_at,
  st.status AS stream_status, st.playback_id,
  COALESCE((SELECT json_agg(json_build_object('id', u.id, 'name', u.name) ORDER BY sp.position, u.name)
            FROM session_speakers sp JOIN users u ON u.id = sp.user_id WHERE sp.session_id = s.id), '[]') AS speakers`;
const FROM = `event_sessions s LEFT JOIN streams st ON st.id = s.stream_id`;

interface SessionRow {
  id: string;
  event_id: string;
  title: string;
  description: string;
  starts_at: Date;
  ends_at: Date;
  stream_id: string | null;
  created_at: Date;
  updated_at: Date;
  stream_status: StreamStatus | null;
  playback_id: string | null;
  speakers: { id: string; name: string }[];
}

function toSession(r: SessionRow): Session {
  return {
    id: r.id,
    eventId: r.event_id,
    title: r.title,
    description: r.description,
    startsAt: r.starts_at,
    endsAt: r.ends_at,
    streamId: r.stream_id,
    stream: r.stream_id && r.stream_status && r.playback_id ? { status: r.stream_status, playbackId: r.playback_id } : null,
    speakers: r.speakers,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function findSession(db: Db, id: string): Promise<Session | null> {
  const { rows } = await db.query<SessionRow>(`SELECT ${SESSION_COLUMNS} FROM ${FROM} WHERE s.id = $1`, [id]);
  return rows[0] ? toSession(rows[0]) : null;
}

/** The event's sessions by start time; `after` is the (startsAt, id) of the previous page's last item. */
export async function listSessions(db: Db, eventId: string, o: { limit: number; after?: { at: Date; id: string } }): Promise<Session[]> {
  const { rows } = await db.query<SessionRow>(
    `SELECT ${SESSION_COLUMNS} FROM ${FROM}
     WHERE s.event_id = $1 AND ($3::timestamptz IS NULL OR (date_trunc('milliseconds', s.starts_at), s.id) > ($3, $4::uuid))
     ORDER BY date_trunc('milliseconds', s.starts_at), s.id LIMIT $2`,
    [eventId, o.limit, o.after?.at ?? null, o.after?.id ?? null],
  );
  return rows.map(toSession);
}

/**
 * The sessions this user speaks at, by start time, in events the user may see (a draft event's
 * sessions stay out until it is published, as every read of it does); `after` pages like listSessions.
 */
export async function listSpeakerSessions(db: Db, caller: VisibilityScope, o: { limit: number; after?: { at: Date; id: string } }): Promise<Session[]> {
  const { rows } = await db.query<SessionRow>(
    `SELECT ${SESSION_COLUMNS} FROM ${FROM} JOIN events e ON e.id = s.event_id
     WHERE EXISTS (SELECT 1 FROM session_speakers me WHERE me.session_id = s.id AND me.user_id = $1) AND ${VISIBLE_EVENT_SQL}
       AND ($4::timestamptz IS NULL OR (date_trunc('milliseconds', s.starts_at), s.id) > ($4, $5::uuid))
     ORDER BY date_trunc('milliseconds', s.starts_at), s.id LIMIT $3`,
    [caller.id, caller.staff, o.limit, o.after?.at ?? null, o.after?.id ?? null],
  );
  return rows.map(toSession);
}

export async function insertSession(db: Db, eventId: string, f: SessionFields): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO event_sessions (event_id, title, description, starts_at, ends_at, stream_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [eventId, f.title, f.description, f.startsAt, f.endsAt, f.streamId],
  );
  return rows[0]!.id;
}

export async function updateSession(db: Db, id: string, f: SessionFields): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE event_sessions SET title = $2, description = $3, starts_at = $4, ends_at = $5, stream_id = $6, updated_at = now() WHERE id = $1`,
    [id, f.title, f.description, f.startsAt, f.endsAt, f.streamId],
  );
  return (rowCount ?? 0) > 0;
}

export async function deleteSession(db: Db, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM event_sessions WHERE id = $1`, [id]);
  return (rowCount ?? 0) > 0;
}

export async function deleteSpeakers(db: Db, sessionId: string): Promise<void> {
  await db.query(`DELETE FROM session_speakers WHERE session_id = $1`, [sessionId]);
}

/** Speakers in the order given (the position keeps it). */
export async function insertSpeakers(db: Db, sessionId: string, userIds: string[]): Promise<void> {
  if (userIds.length === 0) return;
  await db.query(
    `INSERT INTO session_speakers (session_id, user_id, position) SELECT $1, u, n FROM unnest($2::uuid[]) WITH ORDINALITY AS x(u, n)`,
    [sessionId, userIds],
  );
}

export async function streamExists(db: Db, id: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM streams WHERE id = $1`, [id]);
  return rows.length > 0;
}

/**
 * Serialises stream assignments to one stream until the transaction ends, so two sessions
 * written at once cannot both pass the overlap check.
 */
export async function lockStreamAssignments(db: Db, streamId: string): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('event_sessions.stream:' || $1::text))`, [streamId]);
}

/** Another session using this stream whose time overlaps [startsAt, endsAt). */
export async function overlappingSession(
  db: Db,
  o: { streamId: string; startsAt: Date; endsAt: Date; exceptId: string | null },
): Promise<{ id: string; title: string; eventId: string } | null> {
  const { rows } = await db.query<{ id: string; title: string; event_id: string }>(
    `SELECT id, title, event_id FROM event_sessions
     WHERE stream_id = $1 AND starts_at < $3 AND ends_at > $2 AND ($4::uuid IS NULL OR id <> $4)
     ORDER BY starts_at, id LIMIT 1`,
    [o.streamId, o.startsAt, o.endsAt, o.exceptId],
  );
  return rows[0] ? { id: rows[0].id, title: rows[0].title, eventId: rows[0].event_id } : null;
}

/** The speakers' user ids of each session (sessions without speakers are absent). */
export async function speakerIdsOf(db: Db, sessionIds: string[]): Promise<Map<string, Set<string>>> {
  const { rows } = await db.query<{ sessionId: string; userId: string }>(
    `SELECT session_id AS "sessionId", user_id AS "userId" FROM session_speakers WHERE session_id = ANY($1::uuid[])`,
    [sessionIds],
  );
  const out = new Map<string, Set<string>>();
  for (const r of rows) out.set(r.sessionId, (out.get(r.sessionId) ?? new Set()).add(r.userId));
  return out;
}
