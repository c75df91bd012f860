// Raw SQL for per-event mutes and bans: one function per statement, db first.
import type { Db } from '../db/pool.js';

export type RestrictionKind = 'mute' | 'ban';

/** Whether the user is under a live restriction of this kind in the event. */
export async function isRestricted(db: Db, eventId: string, userId: string, kind: RestrictionKind): Promise<{ until: Date | null } | null> {
  const { rows } = await db.query<{ until: Date | null }>(
    `SELECT until FROM event_restrictions
     WHERE event_id = $1 AND user_id = $2 AND kind = $3 AND (until IS NULL OR until > now())`,
    [eventId, userId, kind],
  );
  return rows[0] ? { until: rows[0].until } : null;
}
