// Sign-up, sign-in, device sessions and one-time set-password tokens.
// Every token belongs to a stored device session. A token is accepted only while its device is
// live; the answer is cached per API node for a few seconds and dropped at once when the bus says
// the device was revoked or the user changed (the node that revokes drops it synchronously).
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { withTransaction, type Db } from '../db/pool.js';
import { AppError, badRequest, notFound, unauthorized } from '../errors.js';
import type { TokenService } from '../http/auth.js';
import type { Principal } from '../principal.js';
import type { Log } from '../log.js';
import type { Bus } from '../redis/bus.js';
import * as users from '../users/repo.js';
import type { HashingStats, PasswordHasher } from './passwords.js';
import * as repo from './repo.js';
import type { Attempt, AuthThrottle } from './throttle.js';

export type { Device } from './repo.js';

/** How long a node trusts its cached answer for a device if a bus message were lost. */
const CACHE_SECONDS = 10;
const CACHE_MAX = 20_000;
export const PASSWORD_TOKEN_TTL_SECONDS = 14 * 86400;

export interface ClientInfo {
  ip: string | null;
  userAgent: string;
}

export interface AuthService {
  /** Creates an attendee account unless the email is taken; answers the same either way. */
  register(input: { email: string; password: string; name: string }, from: ClientInfo): Promise<void>;
  login(input: { email: string; password: string }, from: ClientInfo): Promise<{ token: string; user: users.User; deviceId: string; expiresAt: Date }>;
  /** Verifies the token and that its device is still signed in; the role is the user's current one. */
  authenticate(token: string, from?: { ip: string | null }): Promise<Principal>;
  /** The same check for a device session named without its token (a WebSocket ticket's holder). */
  authenticateDevice(holder: { userId: string; deviceId: string; expiresAt: number }): Promise<Principal>;
  logout(p: Principal): Promise<void>;
  devices(p: Principal, o: { limit: number; after?: { createdAt: Date; id: string } }): Promise<repo.Device[]>;
  revokeDevice(p: Principal, deviceId: string): Promise<void>;
  /** Signs the user out everywhere except (optionally) one device, e.g. after a password change. */
  revokeAll(userId: string, exceptDeviceId: string | null): Promise<void>;
  /** Tells every node to look the user up again (role changed). */
  userChanged(userId: string): Promise<void>;
  /** New one-time set-password tokens for these users (inside the caller's transaction if db is a client). */
  issuePasswordTokens(db: Db, userIds: string[]): Promise<string[]>;
  /** Expires the user's unused set-password tokens and issues a new one (inside the caller's transaction). */
  replacePasswordToken(db: Db, userId: string): Promise<string>;
  /** Looks the token up before any hashing; throttled per IP and per token. */
  setPassword(input: { token: string; password: string }, from: ClientInfo): Promise<void>;
  /** Hashing and checking for user administration (given to the users service by the composition root). */
  hashPassword(password: string): Promise<string>;
  verifyPassword(hash: string, password: string): Promise<boolean>;
  /** The argon2 queue's counters (hashes done, running, waiting, refused). */
  hashingStats(): HashingStats;
}

const badTokenError = () => badRequest('This set-password token is not valid, was already used or has expired; ask an admin for a new one.');

/** Runs the check and tells the attempt how it went: a refusal (401/400) is a failure, any other error gives the attempt back. */
async function settled<T>(attempt: Attempt, check: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await check();
  } catch (err) {
    const refused = err instanceof AppError && (err.code === 'unauthorized' || err.code === 'bad_request');
    await (refused ? attempt.failed() : attempt.abandoned());
    throw err;
  }
  await attempt.succeeded();
  return result;
}

const digest = (token: string) => createHash('sha256').update(token).digest();

export function createAuthService(deps: {
  db: pg.Pool;
  bus: Bus;
  log: Log;
  tokens: TokenService;
  throttle: AuthThrottle;
  passwords: PasswordHasher;
}): AuthService {
  const { db, bus, tokens, passwords } = deps;
  // token → who it is, trusted until `until` (≤ CACHE_SECONDS, ≤ the token's expiry): a repeated
  // token costs neither the signature check nor a query.
  const cache = new Map<string, { userId: string; deviceId: string; role: Principal['role']; until: number; expiresAt: number }>();
  // bumped on every sign-out/change: an answer looked up while one happened is not cached
  let generation = 0;
  const forgetUser = (userId: string, deviceId: string | null) => {
    generation++;
    for (const [token, v] of cache) if (deviceId ? v.deviceId === deviceId : v.userId === userId) cache.delete(token);
  };
  void bus.subscribe('auth.device-revoked', (m) => forgetUser(m.userId, m.deviceId));
  void bus.subscribe('auth.user-changed', (m) => forgetUser(m.userId, null));

  const inflight = new Map<string, { generation: number; answer: Promise<Principal> }>();
  async function lookUp(token: string, ip: string | null): Promise<Principal> {
    cache.delete(token);
    const now = Date.now();
    const seenGeneration = generation;
    const claims = await tokens.verify(token);
    const live = await repo.findLiveDevice(db, claims.deviceId);
    if (!live || live.userId !== claims.userId) throw unauthorized('This sign-in has ended (signed out or revoked); sign in again.');
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    if (generation === seenGeneration) cache.set(token, { userId: live.userId, deviceId: claims.deviceId, role: live.role, until: Math.min(now + CACHE_SECONDS * 1000, claims.expiresAt), expiresAt: claims.expiresAt });
    await repo.touchDevice(db, claims.deviceId, ip);
    return { id: live.userId, role: live.role, deviceId: claims.deviceId, expiresAt: claims.expiresAt };
  }

  // Verifying against this when the email is unknown keeps the answer time the same either way,
  // so login cannot tell which emails have accounts.
  let dummyHash: Promise<string> | null = null;
  async function checkCredentials(email: string, password: string): Promise<users.User> {
    const user = await users.findUserForLogin(db, email);
    dummyHash ??= passwords.hash('onair-timing-equaliser').catch((err: unknown) => {
      dummyHash = null;
      throw err;
    });
    const ok = await passwords.verify(user?.passwordHash ?? (await dummyHash), password);
    if (!user || !user.passwordHash || !ok) throw unauthorized('The email or password is not right.');
    const { passwordHash: _omit, ...rest } = user;
    return rest;
  }

  const issuePasswordTokens = async (conn: Db, userIds: string[]) => {
    const issued = userIds.map((userId) => ({ userId, token: `pt_${randomBytes(24).toString('base64url')}` }));
    await repo.insertPasswordTokens(conn, issued.map((t) => ({ userId: t.userId, digest: digest(t.token) })), PASSWORD_TOKEN_TTL_SECONDS);
    return issued.map((t) => t.token);
  };

  const announceRevoked = async (userId: string, deviceId: string | null) => {
    forgetUser(userId, deviceId);
    await bus.publish('auth.device-revoked', { userId, deviceId }).catch((err: unknown) => {
      deps.log.warn({ err }, `Could not announce a sign-out on the bus; other nodes notice within ${CACHE_SECONDS} s.`);
    });
  };

  return {
    async register(input, from) {
      await deps.throttle.register(input.email, from.ip ?? 'unknown');
      // Hash first, whatever happens next: the answer takes as long for a taken email as for a new one.
      const passwordHash = await passwords.hash(input.password);
      const created = await users.insertUserIfAbsent(db, { email: input.email, name: input.name, passwordHash });
      if (created) deps.log.info('A new account registered.');
    },

    async login(input, from) {
      // counted before the password is checked (atomically), so concurrent guesses cannot overshoot
      const attempt = await deps.throttle.login(input.email, from.ip ?? 'unknown');
      const user = await settled(attempt, () => checkCredentials(input.email, input.password));
      const device = await repo.insertDevice(db, { userId: user.id, userAgent: from.userAgent.slice(0, 400), ip: from.ip, ttlSeconds: tokens.expiresInSeconds });
      const token = await tokens.sign({ userId: user.id, deviceId: device.id });
      return { token, user, deviceId: device.id, expiresAt: device.expiresAt };
    },

    authenticate(token, from) {
      const hit = cache.get(token);
      if (hit && hit.until > Date.now()) return Promise.resolve({ id: hit.userId, role: hit.role, deviceId: hit.deviceId, expiresAt: hit.expiresAt });
      // one lookup per token at a time: a burst of requests when an entry expires costs one query
      // (joined only if no sign-out happened since it started)
      const pending = inflight.get(token);
      if (pending && pending.generation === generation) return pending.answer;
      const answer = lookUp(token, from?.ip ?? null).finally(() => {
        if (inflight.get(token)?.answer === answer) inflight.delete(token);
      });
      inflight.set(token, { generation, answer });
      return answer;
    },

    async authenticateDevice(h) {
      const live = h.expiresAt > Date.now() ? await repo.findLiveDevice(db, h.deviceId) : null;
      if (!live || live.userId !== h.userId) throw unauthorized('This sign-in has ended (signed out or revoked); sign in again.');
      return { id: live.userId, role: live.role, deviceId: h.deviceId, expiresAt: h.expiresAt };
    },

    async logout(p) {
      await repo.revokeDevice(db, p.id, p.deviceId);
      await announceRevoked(p.id, p.deviceId);
    },

    devices: (p, o) => repo.listLiveDevices(db, p.id, o),

    async revokeDevice(p, deviceId) {
      if (!(await repo.revokeDevice(db, p.id, deviceId))) throw notFound('That device');
      await announceRevoked(p.id, deviceId);
    },

    async revokeAll(userId, exceptDeviceId) {
      await repo.revokeUserDevices(db, userId, exceptDeviceId);
      if (exceptDeviceId) {
        // drop the user's other devices here; other nodes drop all of the user's entries
        generation++;
        for (const [token, v] of cache) if (v.userId === userId && v.deviceId !== exceptDeviceId) cache.delete(token);
        await bus.publish('auth.device-revoked', { userId, deviceId: null }).catch(() => undefined);
      } else await announceRevoked(userId, null);
    },

    async userChanged(userId) {
      forgetUser(userId, null);
      await bus.publish('auth.user-changed', { userId }).catch((err: unknown) => {
        deps.log.warn({ err }, `Could not announce a user change on the bus; other nodes notice within ${CACHE_SECONDS} s.`);
      });
    },

    issuePasswordTokens,

    async replacePasswordToken(conn, userId) {
      await repo.expireUnusedPasswordTokens(conn, userId);
      const [token] = await issuePasswordTokens(conn, [userId]);
      return token!;
    },

    hashPassword: (password) => passwords.hash(password),
    verifyPassword: (hash, password) => passwords.verify(hash, password),
    hashingStats: () => passwords.stats(),

    async setPassword(input, from) {
      const tokenDigest = digest(input.token);
      const attempt = await deps.throttle.setPassword(tokenDigest, from.ip ?? 'unknown');
      const userId = await settled(attempt, async () => {
        // the token first: a flood of made-up tokens costs a lookup each, never a hash
        if (!(await repo.findPasswordTokenUser(db, tokenDigest))) throw badTokenError();
        const passwordHash = await passwords.hash(input.password);
        return withTransaction(db, async (client) => {
          const id = await repo.consumePasswordToken(client, tokenDigest);
          if (!id) throw badTokenError(); // used by a request that got here first
          await users.setPasswordHash(client, id, passwordHash);
          await repo.revokeUserDevices(client, id, null);
          return id;
        });
      });
      await announceRevoked(userId, null);
    },
  };
}
