// At most one ffmpeg per stream across all workers, even when a BullMQ lock is lost: a Redis
// lease (SET NX PX) with a random token, renewed while ffmpeg runs, released only by its holder.
import { randomUUID } from 'node:crypto';
import type { Redis } from '../redis/connection.js';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface Lease {
  key: string;
  token: string;
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

export async function tryAcquireLease(redis: Redis, key: string, ttlMs: number, owner: string): Promise<Lease | null> {
  const token = `${owner}:${randomUUID()}`;
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  return {
    key,
    token,
    renew: async () => (await redis.eval(RENEW, 1, key, token, String(ttlMs))) === 1,
    release: async () => {
      await redis.eval(RELEASE, 1, key, token);
    },
  };
}

/** Retries until the lease is free (a dead holder's lease expires) or waitMs passes. */
export async function acquireLease(
  redis: Redis,
  o: { key: string; ttlMs: number; owner: string; waitMs: number; signal?: AbortSignal },
): Promise<Lease | null> {
  const deadline = Date.now() + o.waitMs;
  for (;;) {
    const lease = await tryAcquireLease(redis, o.key, o.ttlMs, o.owner);
    if (lease || Date.now() >= deadline || o.signal?.aborted) return lease;
    await new Promise((r) => setTimeout(r, 250));
  }
}
