// Accounts: the first admin and user administration (list, update, roles, one-time set-password
// tokens, bulk import). Password hashing, sign-in and device sessions belong to auth: this service
// is handed the few hooks it needs at construction (it does not import auth; the composition root wires it).
import type pg from 'pg';
import { withTransaction, type Db } from '../db/pool.js';
import { badRequest, conflict, forbidden, notFound } from '../errors.js';
import type { Log } from '../log.js';
import type { Principal } from '../principal.js';
import { completeImport, planImport, type ImportBody, type ImportResult } from './import.js';
import * as repo from './repo.js';

export type { User, Role, UserDetail } from './repo.js';

/** What user administration needs from auth (the auth service provides all of it). */
export interface AuthHooks {
  hashPassword(password: string): Promise<string>;
  verifyPassword(hash: string, password: string): Promise<boolean>;
  /** Signs the user out everywhere except (optionally) one device. */
  revokeAll(userId: string, exceptDeviceId: string | null): Promise<void>;
  /** Tells every API node to look the user up again (role changed). */
  userChanged(userId: string): Promise<void>;
  /** New one-time set-password tokens, inside the caller's transaction. */
  issuePasswordTokens(db: Db, userIds: string[]): Promise<string[]>;
  /** Expires the user's unused set-password tokens and issues a new one, inside the caller's transaction. */
  replacePasswordToken(db: Db, userId: string): Promise<string>;
}

export interface UserPatch {
  name?: string;
  email?: string;
  password?: string;
  currentPassword?: string;
  role?: repo.Role;
}

export interface ImportReport {
  created: number;
  skipped: number;
  failed: number;
  results: ImportResult[];
}

export interface UsersService {
  /** The user, or 404. */
  get(id: string): Promise<repo.User>;
  /** Newest first; `after` is the (created_at to the microsecond, id) of the previous page's last row. */
  list(o: { q?: string; role?: repo.Role; limit: number; after?: { createdKey: string; id: string } }): Promise<(repo.UserDetail & { createdKey: string })[]>;
  /** The user with hasPassword, or 404. */
  detail(id: string): Promise<repo.UserDetail>;
  /** PUT /users/:id; the caller's right to touch this user is checked by the route. */
  update(o: { me: Principal; id: string; patch: UserPatch }): Promise<repo.UserDetail>;
  setRole(o: { id: string; role: repo.Role }): Promise<repo.UserDetail>;
  /** Replaces the user's unused set-password tokens with a new one. */
  issuePasswordToken(o: { id: string }): Promise<{ token: string; expiresAt: Date }>;
  /** Counts against the admin's import budget (RATE_LIMIT_IMPORT) before the body is even read. */
  importUsers(o: { me: Pick<Principal, 'id'>; body: ImportBody }): Promise<ImportReport>;
}

const INSERT_BATCH = 5000;
const RETRYABLE = new Set(['40P01', '40001']); // deadlock, serialization failure
const pgCode = (err: unknown) => (err as { code?: string }).code;

/** Creates ADMIN_EMAIL as admin when no admin exists yet (the migrate role). Returns true when it did. */
export async function ensureAdmin(o: { db: pg.Pool; log: Log; hashPassword: AuthHooks['hashPassword']; email: string; password: string }): Promise<boolean> {
  if ((await repo.countAdmins(o.db)) > 0) return false;
  const existing = await repo.findUserForLogin(o.db, o.email);
  const hash = await o.hashPassword(o.password);
  if (existing) await repo.setUserRoleAndPassword(o.db, existing.id, 'admin', hash);
  else await repo.insertUser(o.db, { email: o.email, name: 'Administrator', role: 'admin', passwordHash: hash });
  o.log.info('Created the first admin account from ADMIN_EMAIL.');
  return true;
}

/** limits: the api's per-user flood limits (the migrate role, which only makes the first admin, has none). */
/** The per-user flood limits users needs (moderation/rate-limits.ts; handed in by the composition root, so users imports no feature above it). */
export interface ImportLimit {
  take(who: { id: string }, action: 'import'): Promise<void>;
}

export function createUsersService(deps: { db: pg.Pool; log: Log; auth: AuthHooks; limits?: ImportLimit }): UsersService {
  const { auth } = deps;
  return {
    async get(id) {
      const user = await repo.findUser(deps.db, id);
      if (!user) throw notFound('That user');
      return user;
    },

    list: (o) => repo.listUsers(deps.db, o),

    async detail(id) {
      const user = await repo.findUserDetail(deps.db, id);
      if (!user) throw notFound('That user');
      return user;
    },

    async update({ me, id, patch }) {
      const self = me.id === id;
      if (patch.role !== undefined && me.role !== 'admin') throw forbidden('You cannot change your own role.');
      if (patch.currentPassword !== undefined && patch.password === undefined) {
        throw fieldError('currentPassword', 'currentPassword is only needed together with a new password');
      }
      if (patch.password !== undefined && self) await checkCurrentPassword({ db: deps.db, id, current: patch.currentPassword, verify: auth.verifyPassword });
      const passwordHash = patch.password === undefined ? undefined : await auth.hashPassword(patch.password);
      const { user, roleChanged } = await withTransaction(deps.db, async (client) => {
        const before = patch.role === undefined ? undefined : await guardRoleChange(client, id, patch.role);
        const user = await repo
          .updateUser(client, id, { name: patch.name, email: patch.email, role: patch.role, passwordHash })
          .catch((err: unknown) => {
            if (pgCode(err) === '23505') throw conflict('Another account already uses this email.', 'email_taken');
            throw err;
          });
        if (!user) throw notFound('That user');
        return { user, roleChanged: before !== undefined && before !== user.role };
      });
      if (passwordHash !== undefined) await auth.revokeAll(id, self ? me.deviceId : null);
      if (roleChanged) await auth.userChanged(id);
      return user;
    },

    async setRole({ id, role }) {
      const { user, before } = await withTransaction(deps.db, async (client) => {
        const before = await guardRoleChange(client, id, role);
        const user = await repo.updateUser(client, id, { role });
        if (!user) throw notFound('That user');
        return { user, before };
      });
      if (before !== role) await auth.userChanged(id);
      return user;
    },

    async issuePasswordToken({ id }) {
      return withTransaction(deps.db, async (client) => {
        if (!(await repo.lockUserRole(client, id))) throw notFound('That user');
        const token = await auth.replacePasswordToken(client, id);
        const expiresAt = await repo.findPasswordTokenExpiry(client, id);
        return { token, expiresAt: expiresAt! };
      });
    },

    async importUsers({ me, body }) {
      await deps.limits?.take(me, 'import'); // first: each import may hash and insert 20,000 rows
      const plan = planImport(body);
      // One order for every import, so two imports of overlapping files cannot deadlock.
      const rows = [...plan.candidates].sort((a, b) => cmp(a.email.toLowerCase(), b.email.toLowerCase()));
      const created = await retrying(() =>
        withTransaction(deps.db, async (client) => {
          const made = new Map<string, { userId: string; token: string }>();
          for (let i = 0; i < rows.length; i += INSERT_BATCH) {
            const inserted = await repo.insertImportedUsers(client, rows.slice(i, i + INSERT_BATCH));
            const tokens = await auth.issuePasswordTokens(client, inserted.map((u) => u.id));
            inserted.forEach((u, j) => made.set(u.email, { userId: u.id, token: tokens[j]! }));
          }
          return made;
        }),
      );
      const report = completeImport(plan, created);
      deps.log.info({ created: report.created, skipped: report.skipped, failed: report.failed }, 'Imported users.');
      return report;
    },
  };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const fieldError = (field: string, message: string) => badRequest(message.charAt(0).toUpperCase() + message.slice(1) + '.', { errors: [{ field: `body.${field}`, message }] });

async function checkCurrentPassword(o: { db: pg.Pool; id: string; current: string | undefined; verify: AuthHooks['verifyPassword'] }): Promise<void> {
  if (o.current === undefined) throw fieldError('currentPassword', 'currentPassword is required to change your own password');
  const hash = await repo.findPasswordHash(o.db, o.id);
  if (hash === undefined) throw notFound('That user');
  const ok = hash !== null && (await o.verify(hash, o.current));
  if (!ok) throw fieldError('currentPassword', 'currentPassword is not right');
}

/**
 * Inside a transaction: refuses to demote the last admin. Locks the admin rows first, so two
 * demotions at once cannot both pass. Returns the user's role before the change.
 */
async function guardRoleChange(client: pg.PoolClient, id: string, role: repo.Role): Promise<repo.Role> {
  const admins = await repo.lockAdmins(client);
  const before = await repo.lockUserRole(client, id);
  if (!before) throw notFound('That user');
  if (before === 'admin' && role !== 'admin' && admins.length <= 1) {
    throw conflict('This is the last admin; make another user admin first.', 'last_admin');
  }
  return before;
}

/** Runs fn again (up to three times) when Postgres reports a deadlock or a serialization failure. */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 3 || !RETRYABLE.has(pgCode(err) ?? '')) throw err;
    }
  }
}
