// Sign-in throttling in Redis: failed logins counted per account and per client IP in a fixed
// window. The account key is a digest of the lower-cased email whether or not the account
// exists, so a 429 says nothing about which emails have accounts.
import { createHash } from 'node:crypto';
import { tooMany, unavailable } from '../errors.js';
import type { Redis } from '../redis/connection.js';

export interface ThrottleLimits {
  accountFailures: number;
  ipFailures: number;
  windowSeconds: number;
}

export interface LoginThrottle {
  /** Throws 429 (with Retry-After) when the account or the IP has used up its failures. */
  check(email: string, ip: string): Promise<void>;
  failed(email: string, ip: string): Promise<void>;
  succeeded(email: string): Promise<void>;
  /** Counts one registration attempt from the IP; throws 429 past the IP's limit. */
  register(ip: string): Promise<void>;
}

export function createLoginThrottle(opts: { redis: Redis; prefix: string; limits: ThrottleLimits }): LoginThrottle {
  const { redis, limits } = opts;
  const accountKey = (email: string) =>
    `${opts.prefix}:login:acct:${createHash('sha256').update(email.trim().toLowerCase()).digest('base64url')}`;
  const ipKey = (ip: string) => `${opts.prefix}:login:ip:${ip}`;
  const registerKey = (ip: string) => `${opts.prefix}:register:ip:${ip}`;
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch {
      throw unavailable('Signing in is unavailable for a moment; try again shortly.');
    }
  };
  const refuse = async (key: string): Promise<never> => {
    const ms = await guard(() => redis.pttl(key));
    throw tooMany('Too many attempts; wait before trying again.', Math.max(1, Math.ceil(ms / 1000)));
  };
  const bump = (key: string) => guard(() => redis.multi().incr(key).expire(key, limits.windowSeconds, 'NX').exec());

  return {
    async check(email, ip) {
      const [acct, byIp] = await guard(() => redis.mget(accountKey(email), ipKey(ip)));
      if (Number(acct ?? 0) >= limits.accountFailures) await refuse(accountKey(email));
      if (Number(byIp ?? 0) >= limits.ipFailures) await refuse(ipKey(ip));
    },
    async failed(email, ip) {
      await Promise.all([bump(accountKey(email)), bump(ipKey(ip))]);
    },
    async succeeded(email) {
      await guard(() => redis.del(accountKey(email)));
    },
    async register(ip) {
      const res = await bump(registerKey(ip));
      const count = Number(res?.[0]?.[1] ?? 0);
      if (count > limits.ipFailures) await refuse(registerKey(ip));
    },
  };
}
