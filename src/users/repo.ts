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
