// Raw SQL for events and their attendees: one function per statement, db first.
// Who may see an event is decided here, in SQL, so that lists and single reads agree:
//   staff see everything; others see published events that are public or unlisted, and private
//   ones they attend or speak at. Lists leave out unlisted events the caller has no part in.
import type { Db } from '../db/pool.js';
import type { Attendee, Branding, VisibilityScope, EventFields, EventForCaller, Event, Phase } from './types.js';

// The rule, written once and applied to a user (an SQL expression) who is staff or not.
const joined = (user: string) => `EXISTS (SELECT 1 FROM event_attendees a WHERE a.event_id = e.id AND a.user_id = ${user})`;
const speaking = (user: string) => `EXISTS (SELECT 1 FROM event_sessions s JOIN session_speakers sp ON sp.session_id = s.id
                          WHERE s.event_id = e.id AND sp.user_id = ${user})`;
const visibleTo = (user: string, staff: string) => `(${staff} OR (e.status = 'published' AND (e.visibility <> 'private' OR ${joined(user)} OR ${speaking(user)})))`;

// $1 = the caller's user id, $2 = whether the caller is staff, in every statement that uses these.
const JOINED = joined('$1');
const SPEAKING = speaking('$1');
const VISIBLE = visibleTo('$1', '$2::boolean');
/** Whether the caller ($1 user id, $2 staff) may see the event `e`: for statements elsewhere (sessions-repo.ts). */
export const VISIBLE_EVENT_SQL = VISIBLE;
const LISTED = `($2::boolean OR (e.status = 'published' AND (e.visibility = 'public' OR ${JOINED} OR ${SPEAKING})))`;

const EVENT_COLUMNS = `e.id, e.title, e.description, e.starts_at, e.ends_at, e.timezone, e.status, e.visibility,
  e.attendee_limit, e.attendee_count, e.branding, e.created_at, e.updated_at,
  CASE WHEN e.starts_at > now() THEN 'upcoming' WHEN e.ends_at <= now() THEN 'past' ELSE 'live' END AS phase`;
const CALLER_COLUMNS = `${EVENT_COLUMNS}, ${JOINED} AS joined, ${SPEAKING} AS speaking`;

interface EventRow {
  id: string;
  title: string;
  description: string;
  starts_at: Date;
  ends_at: Date;
  timezone: string;
  status: Event['status'];
  visibility: Event['visibility'];
  attendee_limit: number | null;
  attendee_count: number;
  branding: Branding;
  created_at: Date;
  updated_at: Date;
  phase: Phase;
}

function toEvent(r: EventRow): Event {
  return {
    id: r.id,
    title: r.title,
    description: r.description,
    startsAt: r.starts_at,
    endsAt: r.ends_at,
    timezone: r.timezone,
    status: r.status,
    visibility: r.visibility,
    attendeeLimit: r.attendee_limit,
    attendeeCount: r.attendee_count,
    branding: r.branding,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    phase: r.phase,
  };
}

const toCallerEvent = (r: EventRow & { joined: boolean; speaking: boolean }): EventForCaller => ({ ...toEvent(r), joined: r.joined, speaking: r.speaking });

const PHASE_FILTER = `($3::text IS NULL OR ($3 = 'upcoming' AND e.starts_at > now())
  OR ($3 = 'live' AND e.starts_at <= now() AND now() < e.ends_at) OR ($3 = 'past' AND e.ends_at <= now()))`;

export interface ListEventsOpts {
  phase?: Phase;
  limit: number;
  after?: { at: Date; id: string };
}

/** Listed events by start time, earliest first; `after` is the (startsAt, id) of the previous page's last item. */
export async function listEventsByStart(db: Db, caller: VisibilityScope, o: ListEventsOpts): Promise<EventForCaller[]> {
  const { rows } = await db.query({
    name: 'events-by-start',
    text: `SELECT ${CALLER_COLUMNS} FROM events e
     WHERE ${LISTED} AND ${PHASE_FILTER}
       AND ($5::timestamptz IS NULL OR (date_trunc('milliseconds', e.starts_at), e.id) > ($5, $6::uuid))
     ORDER BY date_trunc('milliseconds', e.starts_at), e.id LIMIT $4`,
    values: [caller.id, caller.staff, o.phase ?? null, o.limit, o.after?.at ?? null, o.after?.id ?? null],
  });
  return rows.map(toCallerEvent);
}

/** Listed events by end time, latest first (for past events); `after` is the previous page's last (endsAt, id). */
export async function listEventsByEnd(db: Db, caller: VisibilityScope, o: ListEventsOpts): Promise<EventForCaller[]> {
  const { rows } = await db.query({
    name: 'events-by-end',
    text: `SELECT ${CALLER_COLUMNS} FROM events e
     WHERE ${LISTED} AND ${PHASE_FILTER}
       AND ($5::timestamptz IS NULL OR (date_trunc('milliseconds', e.ends_at), e.id) < ($5, $6::uuid))
     ORDER BY date_trunc('milliseconds', e.ends_at) DESC, e.id DESC LIMIT $4`,
    values: [caller.id, caller.staff, o.phase ?? null, o.limit, o.after?.at ?? null, o.after?.id ?? null],
  });
  return rows.map(toCallerEvent);
}

/** The event if this caller may see it, else null. */
export async function findVisibleEvent(db: Db, caller: VisibilityScope, id: string): Promise<EventForCaller | null> {
  const { rows } = await db.query({ name: 'event-visible', text: `SELECT ${CALLER_COLUMNS} FROM events e WHERE e.id = $3 AND ${VISIBLE}`, values: [caller.id, caller.staff, id] });
  return rows[0] ? toCallerEvent(rows[0]) : null;
}

export interface ReaderRow {
  userId: string;
  role: string;
  /** The event's VISIBLE rule for this user, with their role as it is now. */
  visible: boolean;
  status: Event['status'];
  visibility: Event['visibility'];
}

/**
 * For re-checking open rooms: each of these users (those that still exist) with their role now
 * and whether they may see the event — the same VISIBLE rule as every read, the user counting as
 * staff when their current role is one of `staffRoles`. No rows when the event is gone.
 */
export async function readersOf(db: Db, o: { eventId: string; userIds: string[]; staffRoles: readonly string[] }): Promise<ReaderRow[]> {
  const { rows } = await db.query<{ user_id: string; role: string; visible: boolean; status: Event['status']; visibility: Event['visibility'] }>({
    name: 'event-readers',
    text: `SELECT u.id AS user_id, u.role, e.status, e.visibility, ${visibleTo('u.id', 'u.role = ANY($3::text[])')} AS visible
           FROM events e JOIN users u ON u.id = ANY($2::uuid[]) WHERE e.id = $1`,
    values: [o.eventId, o.userIds, o.staffRoles],
  });
  return rows.map((r) => ({ userId: r.user_id, role: r.role, visible: r.visible, status: r.status, visibility: r.visibility }));
}

/** Locks the event row for the rest of the transaction (updates, bulk adds, session changes). */
export async function lockEvent(db: Db, id: string, mode: 'UPDATE' | 'SHARE'): Promise<Event | null> {
  const { rows } = await db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events e WHERE e.id = $1 FOR ${mode === 'UPDATE' ? 'UPDATE' : 'SHARE'}`, [id]);
  return rows[0] ? toEvent(rows[0]) : null;
}

const FIELD_PARAMS = (f: EventFields) => [f.title, f.description, f.startsAt, f.endsAt, f.timezone, f.status, f.visibility, f.attendeeLimit, JSON.stringify(f.branding)];

export async function insertEvent(db: Db, f: EventFields & { createdBy: string }): Promise<Event> {
  const { rows } = await db.query<EventRow>(
    `INSERT INTO events AS e (title, description, starts_at, ends_at, timezone, status, visibility, attendee_limit, branding, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${EVENT_COLUMNS}`,
    [...FIELD_PARAMS(f), f.createdBy],
  );
  return toEvent(rows[0]!);
}

export async function updateEvent(db: Db, id: string, f: EventFields): Promise<Event | null> {
  const { rows } = await db.query<EventRow>(
    `UPDATE events AS e SET title = $1, description = $2, starts_at = $3, ends_at = $4, timezone = $5, status = $6,
       visibility = $7, attendee_limit = $8, branding = $9, updated_at = now()
     WHERE e.id = $10 RETURNING ${EVENT_COLUMNS}`,
    [...FIELD_PARAMS(f), id],
  );
  return rows[0] ? toEvent(rows[0]) : null;
}

export async function deleteEvent(db: Db, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM events WHERE id = $1`, [id]);
  return (rowCount ?? 0) > 0;
}

/** The first session (by start) lying outside these bounds, if any. */
export async function sessionOutside(db: Db, o: { eventId: string; startsAt: Date; endsAt: Date }): Promise<{ id: string; title: string } | null> {
  const { rows } = await db.query<{ id: string; title: string }>(
    `SELECT id, title FROM event_sessions WHERE event_id = $1 AND (starts_at < $2 OR ends_at > $3) ORDER BY starts_at, id LIMIT 1`,
    [o.eventId, o.startsAt, o.endsAt],
  );
  return rows[0] ?? null;
}

/** Adds the attendee row; false when the user already attends. */
export async function insertAttendee(db: Db, eventId: string, userId: string): Promise<boolean> {
  const { rows } = await db.query(
    `INSERT INTO event_attendees (event_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING user_id`,
    [eventId, userId],
  );
  return rows.length > 0;
}

/** Adds these users; answers the ids that were not attending before. */
export async function insertAttendees(db: Db, eventId: string, userIds: string[]): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string }>(
    `INSERT INTO event_attendees (event_id, user_id) SELECT $1, u FROM unnest($2::uuid[]) AS u
     ON CONFLICT DO NOTHING RETURNING user_id`,
    [eventId, userIds],
  );
  return rows.map((r) => r.user_id);
}

/**
 * Counts `n` more attendees unless that would pass the limit. The row lock this UPDATE takes
 * serialises concurrent joins, and the condition is re-checked on the newest row version, so the
 * limit holds under any concurrency. Answers the new count, or null when the event is full.
 */
export async function countAttendees(db: Db, eventId: string, n: number): Promise<number | null> {
  const { rows } = await db.query<{ attendee_count: number }>(
    `UPDATE events SET attendee_count = attendee_count + $2
     WHERE id = $1 AND (attendee_limit IS NULL OR attendee_count + $2 <= attendee_limit) RETURNING attendee_count`,
    [eventId, n],
  );
  return rows[0]?.attendee_count ?? null;
}

export async function deleteAttendee(db: Db, eventId: string, userId: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM event_attendees WHERE event_id = $1 AND user_id = $2`, [eventId, userId]);
  return (rowCount ?? 0) > 0;
}

export async function uncountAttendee(db: Db, eventId: string): Promise<void> {
  await db.query(`UPDATE events SET attendee_count = attendee_count - 1 WHERE id = $1`, [eventId]);
}

export async function attendeeCount(db: Db, eventId: string): Promise<number> {
  const { rows } = await db.query<{ attendee_count: number }>(`SELECT attendee_count FROM events WHERE id = $1`, [eventId]);
  return rows[0]?.attendee_count ?? 0;
}

/** Attendees in joining order; `after` is the (joinedAt, userId) of the previous page's last item. */
export async function listAttendees(db: Db, eventId: string, o: { limit: number; after?: { at: Date; id: string } }): Promise<Attendee[]> {
  const { rows } = await db.query<{ id: string; name: string; email: string; joined_at: Date }>(
    `SELECT u.id, u.name, u.email, a.joined_at FROM event_attendees a JOIN users u ON u.id = a.user_id
     WHERE a.event_id = $1 AND ($3::timestamptz IS NULL OR (date_trunc('milliseconds', a.joined_at), a.user_id) > ($3, $4::uuid))
     ORDER BY date_trunc('milliseconds', a.joined_at), a.user_id LIMIT $2`,
    [eventId, o.limit, o.after?.at ?? null, o.after?.id ?? null],
  );
  return rows.map((r) => ({ user: { id: r.id, name: r.name, email: r.email }, joinedAt: r.joined_at }));
}

/** Of these user ids, those with no account. */
export async function missingUsers(db: Db, ids: string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT i AS id FROM unnest($1::uuid[]) WITH ORDINALITY AS x(i, n) WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = i) ORDER BY n`,
    [ids],
  );
  return rows.map((r) => r.id);
}
