// Raw SQL for per-event mutes and bans: one function per statement, db first.
import type { Db } from '../db/pool.js';

export type RestrictionKind = 'mute' | 'ban';

export interface Restriction {
  eventId: string;
  user: { id: string; name: string };
  kind: RestrictionKind;
  until: Date | null;
  reason: string;
  createdBy: { id: string; name: string } | null;
  createdAt: Date;
}

/** Whether the user is under a live restriction of this kind in the event. */
export async function isRestricted(db: Db, eventId: string, userId: string, kind: RestrictionKind): Promise<{ until: Date | null } | null> {
  const { rows } = await db.query<{ until: Date | null }>(
    `SELECT until FROM event_restrictions
     WHERE event_id = $1 AND user_id = $2 AND kind = $3 AND (until IS NULL OR until > now())`,
    [eventId, userId, kind],
  );
  return rows[0] ? { until: rows[0].until } : null;
}

/** The user's live restrictions in the event (mute and ban in one look-up, for a chat send). */
export async function liveRestrictions(db: Db, eventId: string, userId: string): Promise<Partial<Record<RestrictionKind, { until: Date | null }>>> {
  const { rows } = await db.query<{ kind: RestrictionKind; until: Date | null }>(
    {
      name: 'chat-live-restrictions',
      text: `SELECT kind, until FROM event_restrictions
             WHERE event_id = $1 AND user_id = $2 AND (until IS NULL OR until > now())`,
      values: [eventId, userId],
    },
  );
  return Object.fromEntries(rows.map((r) => [r.kind, { until: r.until }]));
}

/**
 * Puts (or renews) a restriction; `created` is false when one of that kind already existed
 * (its until and reason are replaced).
 */
export async function upsertRestriction(
  db: Db,
  r: { eventId: string; userId: string; kind: RestrictionKind; minutes: number | null; reason: string; createdBy: string },
): Promise<{ created: boolean }> {
  const { rows } = await db.query<{ created: boolean }>(
    `INSERT INTO event_restrictions (event_id, user_id, kind, until, reason, created_by)
     VALUES ($1, $2, $3, CASE WHEN $4::integer IS NULL THEN NULL ELSE now() + make_interval(mins => $4::integer) END, $5, $6)
     ON CONFLICT (event_id, user_id, kind) DO UPDATE
       SET until = EXCLUDED.until, reason = EXCLUDED.reason, created_by = EXCLUDED.created_by, created_at = now()
     RETURNING (xmax = 0) AS created`,
    [r.eventId, r.userId, r.kind, r.minutes, r.reason, r.createdBy],
  );
  return { created: rows[0]!.created };
}

/** Lifts a restriction; false when there was none in force. */
export async function deleteRestriction(db: Db, eventId: string, userId: string, kind: RestrictionKind): Promise<boolean> {
  const { rows } = await db.query<{ live: boolean }>(
    `DELETE FROM event_restrictions WHERE event_id = $1 AND user_id = $2 AND kind = $3
     RETURNING (until IS NULL OR until > now()) AS live`,
    [eventId, userId, kind],
  );
  return rows[0]?.live ?? false;
}

const RESTRICTION_COLUMNS = `r.event_id, r.kind, r.until, r.reason, r.created_at,
  u.id AS user_id, u.name AS user_name, c.id AS by_id, c.name AS by_name`;

interface RestrictionRow {
  event_id: string;
  kind: RestrictionKind;
  until: Date | null;
  reason: string;
  created_at: Date;
  user_id: string;
  user_name: string;
  by_id: string | null;
  by_name: string | null;
}

const toRestriction = (r: RestrictionRow): Restriction => ({
  eventId: r.event_id,
  user: { id: r.user_id, name: r.user_name },
  kind: r.kind,
  until: r.until,
  reason: r.reason,
  createdBy: r.by_id ? { id: r.by_id, name: r.by_name ?? '' } : null,
  createdAt: r.created_at,
});

/** The restrictions in force in an event, newest first, after the (createdAt, userId, kind) cursor. */
export async function listRestrictions(
  db: Db,
  o: { eventId: string; kind?: RestrictionKind; limit: number; after?: { at: Date; userId: string; kind: RestrictionKind } },
): Promise<Restriction[]> {
  const { rows } = await db.query<RestrictionRow>(
    `SELECT ${RESTRICTION_COLUMNS}
     FROM event_restrictions r
     JOIN users u ON u.id = r.user_id
     LEFT JOIN users c ON c.id = r.created_by
     WHERE r.event_id = $1 AND (r.until IS NULL OR r.until > now())
       AND ($2::text IS NULL OR r.kind = $2)
       AND ($3::timestamptz IS NULL OR (date_trunc('milliseconds', r.created_at), r.user_id, r.kind) < ($3, $4::uuid, $5::text))
     ORDER BY date_trunc('milliseconds', r.created_at) DESC, r.user_id DESC, r.kind DESC
     LIMIT $6`,
    [o.eventId, o.kind ?? null, o.after?.at ?? null, o.after?.userId ?? null, o.after?.kind ?? null, o.limit],
  );
  return rows.map(toRestriction);
}

/** The user's role, or null when there is no such user (a moderator cannot restrict staff). */
export async function userRole(db: Db, userId: string): Promise<string | null> {
  const { rows } = await db.query<{ role: string }>(`SELECT role FROM users WHERE id = $1`, [userId]);
  return rows[0]?.role ?? null;
}

/** One restriction in force (with the names the view shows). */
export async function findRestriction(db: Db, eventId: string, userId: string, kind: RestrictionKind): Promise<Restriction | null> {
  const { rows } = await db.query<RestrictionRow>(
    `SELECT ${RESTRICTION_COLUMNS}
     FROM event_restrictions r
     JOIN users u ON u.id = r.user_id
     LEFT JOIN users c ON c.id = r.created_by
     WHERE r.event_id = $1 AND r.user_id = $2 AND r.kind = $3 AND (r.until IS NULL OR r.until > now())`,
    [eventId, userId, kind],
  );
  return rows[0] ? toRestriction(rows[0]) : null;
}

/** Which of these (event, user) pairs are banned now: one look-up for a batch of viewer lines. */
export async function bannedAmong(db: Db, pairs: { eventId: string; userId: string }[]): Promise<{ eventId: string; userId: string }[]> {
  if (pairs.length === 0) return [];
  const { rows } = await db.query<{ event_id: string; user_id: string }>(
    `SELECT r.event_id, r.user_id
     FROM event_restrictions r
     JOIN unnest($1::uuid[], $2::uuid[]) AS p (event_id, user_id) ON p.event_id = r.event_id AND p.user_id = r.user_id
     WHERE r.kind = 'ban' AND (r.until IS NULL OR r.until > now())`,
    [pairs.map((p) => p.eventId), pairs.map((p) => p.userId)],
  );
  return rows.map((r) => ({ eventId: r.event_id, userId: r.user_id }));
}
