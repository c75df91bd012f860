// Raw SQL for device sessions and one-time set-password tokens: one function per statement, db first.
import type { Db } from '../db/pool.js';
import type { Role } from '../access.js';

export interface Device {
  id: string;
  userAgent: string;
  ip: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

interface DeviceRow {
  id: string;
  user_agent: string;
  ip: string | null;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
}

const toDevice = (r: DeviceRow): Device => ({
  id: r.id,
  userAgent: r.user_agent,
  ip: r.ip,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  expiresAt: r.expires_at,
});

export async function insertDevice(db: Db, d: { userId: string; userAgent: string; ip: string | null; ttlSeconds: number }): Promise<Device> {
  const { rows } = await db.query<DeviceRow>(
    `INSERT INTO devices (user_id, user_agent, ip, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4))
     RETURNING id, user_agent, ip, created_at, last_seen_at, expires_at`,
    [d.userId, d.userAgent, d.ip, d.ttlSeconds],
  );
  return toDevice(rows[0]!);
}

/** The live device (not revoked, not expired) with its user's current role. */
export async function findLiveDevice(db: Db, id: string): Promise<{ userId: string; role: Role } | null> {
  const { rows } = await db.query<{ user_id: string; role: Role }>(
    `SELECT d.user_id, u.role FROM devices d JOIN users u ON u.id = d.user_id
     WHERE d.id = $1 AND d.revoked_at IS NULL AND d.expires_at > now()`,
    [id],
  );
  return rows[0] ? { userId: rows[0].user_id, role: rows[0].role } : null;
}

/** Records activity at most once a minute per device, so a busy client costs no write per request. */
export async function touchDevice(db: Db, id: string, ip: string | null): Promise<void> {
  await db.query(
    `UPDATE devices SET last_seen_at = now(), ip = coalesce($2, ip)
     WHERE id = $1 AND last_seen_at < now() - interval '1 minute'`,
    [id, ip],
  );
}

/** Newest sign-in first; `after` is the (createdAt, id) of the previous page's last item. */
export async function listLiveDevices(db: Db, userId: string, o: { limit: number; after?: { createdAt: Date; id: string } }): Promise<Device[]> {
  const { rows } = await db.query<DeviceRow>(
    `SELECT id, user_agent, ip, created_at, last_seen_at, expires_at FROM devices
     WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
       AND ($3::timestamptz IS NULL OR (date_trunc('milliseconds', created_at), id) < ($3, $4::uuid))
     ORDER BY date_trunc('milliseconds', created_at) DESC, id DESC LIMIT $2`,
    [userId, o.limit, o.after?.createdAt ?? null, o.after?.id ?? null],
  );
  return rows.map(toDevice);
}

/** Revokes one device of the user; false when the user has no such live device. */
export async function revokeDevice(db: Db, userId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE devices SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`,
    [id, userId],
  );
  return (rowCount ?? 0) > 0;
}

export async function revokeUserDevices(db: Db, userId: string, exceptId: string | null): Promise<void> {
  await db.query(
    `UPDATE devices SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)`,
    [userId, exceptId],
  );
}

export async function insertPasswordTokens(db: Db, tokens: { userId: string; digest: Buffer }[], ttlSeconds: number): Promise<void> {
  if (tokens.length === 0) return;
  await db.query(
    `INSERT INTO password_tokens (digest, user_id, expires_at)
     SELECT d, u, now() + make_interval(secs => $3) FROM unnest($1::bytea[], $2::uuid[]) AS t(d, u)`,
    [tokens.map((t) => t.digest), tokens.map((t) => t.userId), ttlSeconds],
  );
}

/** The user of a token that is unused and unexpired, or null; changes nothing. */
export async function findPasswordTokenUser(db: Db, digest: Buffer): Promise<string | null> {
  const { rows } = await db.query<{ user_id: string }>(
    `SELECT user_id FROM password_tokens WHERE digest = $1 AND used_at IS NULL AND expires_at > now()`,
    [digest],
  );
  return rows[0]?.user_id ?? null;
}

/** Marks a token used and returns its user, or null when it is unknown, used or expired. */
export async function consumePasswordToken(db: Db, digest: Buffer): Promise<string | null> {
  const { rows } = await db.query<{ user_id: string }>(
    `UPDATE password_tokens SET used_at = now() WHERE digest = $1 AND used_at IS NULL AND expires_at > now() RETURNING user_id`,
    [digest],
  );
  return rows[0]?.user_id ?? null;
}

/** A new token replaces the user's unused ones. */
export async function expireUnusedPasswordTokens(db: Db, userId: string): Promise<void> {
  await db.query(`UPDATE password_tokens SET expires_at = now() WHERE user_id = $1 AND used_at IS NULL AND expires_at > now()`, [userId]);
}
