// At most one ffmpeg per stream across all workers, even when a BullMQ lock is lost: a Redis
// lease (SET NX PX) with a random token, renewed while ffmpeg runs, released only by its holder.
// Redis keeps time while it is frozen or down, so a lease can expire under a holder that simply
// could not reach it: renewing then takes the lease again if nobody else did meanwhile.
import { randomUUID } from 'node:crypto';
import type { Redis } from '../redis/connection.js';

/** What a released lease's key holds for a moment: "free, and its ffmpeg is already gone". */
export const RELEASED = 'released';

// 1: still ours (renewed, or taken again after it expired), 0: someone else's now
const RENEW = `local v = redis.call('get', KEYS[1])
if v == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]); return 1 end
return 0`;
// a clean release leaves a short-lived marker so that a successor knows it need not wait for
// the holder's ffmpeg to go quiet
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], '${RELEASED}', 'PX', ARGV[2]) else return 0 end`;
const ABANDON = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
// 'free' (nobody held it, or it expired), 'released' (its holder let go cleanly), or nil (held)
const ACQUIRE = `local v = redis.call('get', KEYS[1])
if v and v ~= '${RELEASED}' then return nil end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
if v then return '${RELEASED}' end
return 'free'`;

export interface Lease {
  key: string;
  token: string;
  /** How it was found: free (never held, or expired under a holder that stopped renewing) or released cleanly. */
  found: 'free' | 'released';
  /** true: still ours; false: someone else holds it now. Rejects when Redis does not answer. */
  renew(): Promise<boolean>;
  /** Lets go once its ffmpeg is gone: a successor may start at once. */
  release(): Promise<void>;
  /** Gives back a lease taken by mistake (its old holder may still run ffmpeg): free as if never taken. */
  abandon(): Promise<void>;
}

export async function tryAcquireLease(redis: Redis, key: string, ttlMs: number, owner: string): Promise<Lease | null> {
  const token = `${owner}:${randomUUID()}`;
  const found = (await redis.eval(ACQUIRE, 1, key, token, String(ttlMs))) as 'free' | 'released' | null;
  if (found !== 'free' && found !== RELEASED) return null;
  return {
    key,
    token,
    found,
    renew: async () => (await redis.eval(RENEW, 1, key, token, String(ttlMs))) === 1,
    release: async () => {
      await redis.eval(RELEASE, 1, key, token, String(ttlMs));
    },
    abandon: async () => {
      await redis.eval(ABANDON, 1, key, token);
    },
  };
}
