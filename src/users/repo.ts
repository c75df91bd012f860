// Raw SQL for users: one function per statement, db first.
import type { Role } from '../access.js';
import type { Db } from '../db/pool.js';

export type { Role };

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  createdAt: Date;
}

interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  created_at: Date;
  password_hash: string | null;
}

const toUser = (r: UserRow): User => ({ id: r.id, email: r.email, name: r.name, role: r.role, createdAt: r.created_at });

export async function findUserForLogin(db: Db, email: string): Promise<(User & { passwordHash: string | null }) | null> {
  const { rows } = await db.query<UserRow>(
    `SELECT id, email, name, role, created_at, password_hash FROM users WHERE lower(email) = lower($1)`,
    [email],
  );
  return rows[0] ? { ...toUser(rows[0]), passwordHash: rows[0].password_hash } : null;
}

export async function findUser(db: Db, id: string): Promise<User | null> {
  const { rows } = await db.query<UserRow>(`SELECT id, email, name, role, created_at, password_hash FROM users WHERE id = $1`, [id]);
  return rows[0] ? toUser(rows[0]) : null;
}

export async function countAdmins(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM users WHERE role = 'admin'`);
  return Number(rows[0]?.n ?? 0);
}

export async function insertUser(db: Db, u: { email: string; name: string; role: Role; passwordHash: string | null }): Promise<User> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)
     RETURNING id, email, name, role, created_at, password_hash`,
    [u.email, u.name, u.role, u.passwordHash],
  );
  return toUser(rows[0]!);
}

export async function setUserRoleAndPassword(db: Db, id: string, role: Role, passwordHash: string): Promise<void> {
  await db.query(`UPDATE users SET role = $2, password_hash = $3, updated_at = now() WHERE id = $1`, [id, role, passwordHash]);
}

/** Creates an attendee account unless the email (any case) is taken; true when it did. */
export async function insertUserIfAbsent(db: Db, u: { email: string; name: string; passwordHash: string }): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, 'attendee', $3)
     ON CONFLICT ((lower(email))) DO NOTHING`,
    [u.email, u.name, u.passwordHash],
  );
  return (rowCount ?? 0) > 0;
}

export async function setPasswordHash(db: Db, id: string, passwordHash: string): Promise<void> {
  await db.query(`UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, [id, passwordHash]);
}

// ---- administration: list, detail, update, role, import ----

export interface UserDetail extends User {
  hasPassword: boolean;
}

interface DetailRow extends UserRow {
  has_password: boolean;
  /** created_at to the microsecond (a JS Date keeps milliseconds only), for exact cursors. */
  created_key: string;
}

const DETAIL_COLUMNS = `id, email, name, role, created_at, password_hash IS NOT NULL AS has_password,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

const toDetail = (r: DetailRow): UserDetail & { createdKey: string } => ({ ...toUser(r), hasPassword: r.has_password, createdKey: r.created_key });

/** Escapes LIKE wildcards so a search matches the text literally. */
export const likeContains = (q: string) => `%${q.replace(/[\\%_]/g, '\\$&')}%`;

/** Newest first; keyset on (created_at, id), so rows created in the same instant page exactly. */
export async function listUsers(
  db: Db,
  o: { q?: string; role?: Role; limit: number; after?: { createdKey: string; id: string } },
): Promise<(UserDetail & { createdKey: string })[]> {
  const { rows } = await db.query<DetailRow>(
    `SELECT ${DETAIL_COLUMNS} FROM users
     WHERE ($1::text IS NULL OR name ILIKE $1 ESCAPE '\\' OR email ILIKE $1 ESCAPE '\\')
       AND ($2::text IS NULL OR role = $2)
       AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
     ORDER BY created_at DESC, id DESC
     LIMIT $5`,
    [o.q === undefined ? null : likeContains(o.q), o.role ?? null, o.after?.createdKey ?? null, o.after?.id ?? null, o.limit],
  );
  return rows.map(toDetail);
}

export async function findUserDetail(db: Db, id: string): Promise<UserDetail | null> {
  const { rows } = await db.query<DetailRow>(`SELECT ${DETAIL_COLUMNS} FROM users WHERE id = $1`, [id]);
  if (!rows[0]) return null;
  const { createdKey: _k, ...user } = toDetail(rows[0]);
  return user;
}

/** The stored hash (null when the user has none yet), or undefined when there is no such user. */
export async function findPasswordHash(db: Db, id: string): Promise<string | null | undefined> {
  const { rows } = await db.query<{ password_hash: string | null }>(`SELECT password_hash FROM users WHERE id = $1`, [id]);
  return rows[0] ? rows[0].password_hash : undefined;
}

/** Locks every admin row (in id order) so two demotions cannot both pass the last-admin check. */
export async function lockAdmins(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE`);
  return rows.map((r) => r.id);
}

/** The user's role, locking the row for the rest of the transaction. */
export async function lockUserRole(db: Db, id: string): Promise<Role | null> {
  const { rows } = await db.query<{ role: Role }>(`SELECT role FROM users WHERE id = $1 FOR UPDATE`, [id]);
  return rows[0]?.role ?? null;
}

/** Sets the given fields (undefined = unchanged); null when there is no such user. */
export async function updateUser(
  db: Db,
  id: string,
  p: { name?: string; email?: string; role?: Role; passwordHash?: string },
): Promise<UserDetail | null> {
  const { rows } = await db.query<DetailRow>(
    `UPDATE users SET name = coalesce($2, name), email = coalesce($3, email), role = coalesce($4, role),
       password_hash = coalesce($5, password_hash), updated_at = now()
     WHERE id = $1
     RETURNING ${DETAIL_COLUMNS}`,
    [id, p.name ?? null, p.email ?? null, p.role ?? null, p.passwordHash ?? null],
  );
  if (!rows[0]) return null;
  const { createdKey: _k, ...user } = toDetail(rows[0]);
  return user;
}

/**
 * Creates the users whose email (any case) is free, without passwords, in one statement.
 * Returns the created rows; a taken email is silently left out (also when a concurrent import
 * takes it first).
 */
export async function insertImportedUsers(db: Db, users: { email: string; name: string; role: Role }[]): Promise<{ id: string; email: string }[]> {
  if (users.length === 0) return [];
  const { rows } = await db.query<{ id: string; email: string }>(
    `INSERT INTO users (email, name, role)
     SELECT e, n, r FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(e, n, r, i) ORDER BY i
     ON CONFLICT ((lower(email))) DO NOTHING
     RETURNING id, email`,
    [users.map((u) => u.email), users.map((u) => u.name), users.map((u) => u.role)],
  );
  return rows;
}

/** When the user's newest live set-password token expires. */
export async function findPasswordTokenExpiry(db: Db, userId: string): Promise<Date | null> {
  const { rows } = await db.query<{ expires_at: Date }>(
    `SELECT expires_at FROM password_tokens WHERE user_id = $1 AND used_at IS NULL AND expires_at > now()
     ORDER BY expires_at DESC LIMIT 1`,
    [userId],
  );
  return rows[0]?.expires_at ?? null;
}
