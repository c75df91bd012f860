// Accounts: sign-in and the first admin. Passwords are hashed with argon2id.
import argon2 from 'argon2';
import type pg from 'pg';
import { notFound, unauthorized } from '../errors.js';
import type { Log } from '../log.js';
import * as repo from './repo.js';

export type { User, Role } from './repo.js';

// Verifying against this when the email is unknown keeps the answer time the same either way,
// so login cannot tell which emails have accounts.
let dummyHash: Promise<string> | null = null;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

export interface UsersService {
  verifyLogin(email: string, password: string): Promise<repo.User>;
  /** The user, or 404. */
  get(id: string): Promise<repo.User>;
  /** Creates ADMIN_EMAIL as admin when no admin exists yet. Returns true when it did. */
  ensureAdmin(email: string, password: string): Promise<boolean>;
}

export function createUsersService(deps: { db: pg.Pool; log: Log }): UsersService {
  return {
    async verifyLogin(email, password) {
      const user = await repo.findUserForLogin(deps.db, email);
      dummyHash ??= hashPassword('onair-timing-equaliser');
      const hash = user?.passwordHash ?? (await dummyHash);
      const ok = await argon2.verify(hash, password).catch(() => false);
      if (!user || !user.passwordHash || !ok) throw unauthorized('The email or password is not right.');
      const { passwordHash: _omit, ...rest } = user;
      return rest;
    },
    async get(id) {
      const user = await repo.findUser(deps.db, id);
      if (!user) throw notFound('That user');
      return user;
    },
    async ensureAdmin(email, password) {
      if ((await repo.countAdmins(deps.db)) > 0) return false;
      const existing = await repo.findUserForLogin(deps.db, email);
      const hash = await hashPassword(password);
      if (existing) await repo.setUserRoleAndPassword(deps.db, existing.id, 'admin', hash);
      else await repo.insertUser(deps.db, { email, name: 'Administrator', role: 'admin', passwordHash: hash });
      deps.log.info('Created the first admin account from ADMIN_EMAIL.');
      return true;
    },
  };
}
