// Password hashing and checking (argon2id): the one place that knows the parameters, and the
// queue every hash and check of a request goes through. Users get these through the hooks the
// composition root hands them; nothing else imports argon2.
//
// Why a queue: argon2's hash and verify run in libuv's threadpool (4 threads unless
// UV_THREADPOOL_SIZE says otherwise), the same threads that check every token's signature (jose
// uses WebCrypto, whose HMAC runs there too) and do file-system and DNS work. Left alone, a flood of
// registrations or sign-ins with new passwords fills all four threads and every token check waits
// behind hundreds of hashes. At most `concurrency` (default 2) argon2 jobs run at once, so the pool
// always keeps threads for the rest; a bounded line waits behind them, and past it the answer is
// 429 `rate_limited` with the seconds the line needs to drain.
import argon2 from 'argon2';
import { tooMany } from '../errors.js';

/** The production cost (argon2's own defaults, written out so a change is a visible diff and a failing test). */
export const PRODUCTION_ARGON2 = { type: argon2.argon2id, memoryCost: 65_536, timeCost: 3, parallelism: 4 } as const;
/** PASSWORD_HASH_COST=test only: the smallest argon2id cost, so tests can hash hundreds of passwords. Never in production. */
export const TEST_ARGON2 = { type: argon2.argon2id, memoryCost: 1024, timeCost: 1, parallelism: 1 } as const;

export type HashCost = 'standard' | 'test';

/** Hashes at the production cost, outside any queue: for seeding test data and benches. */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, PRODUCTION_ARGON2);
}

/** The parameters a hash was made with live in the hash, so any cost verifies. A malformed hash is "no". */
export function verifyPassword(hash: string, password: string): Promise<boolean> {
  return argon2.verify(hash, password).catch(() => false);
}

export interface HashingStats {
  /** Hashes computed (new passwords) and hashes checked (sign-ins, current passwords), since start. */
  hashed: number;
  verified: number;
  running: number;
  waiting: number;
  /** Refused because the waiting line was full. */
  refused: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  stats(): HashingStats;
}

/** What the queue runs; argon2 unless a unit test hands in a fake it controls. */
export interface HashImpl {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
}

const argon2Impl = (cost: HashCost): HashImpl => ({
  hash: (password) => argon2.hash(password, cost === 'test' ? TEST_ARGON2 : PRODUCTION_ARGON2),
  verify: verifyPassword,
});

export function createPasswordHasher(o: { cost: HashCost; concurrency: number; maxWaiting: number; impl?: HashImpl }): PasswordHasher {
  const impl = o.impl ?? argon2Impl(o.cost);
  const line: (() => void)[] = [];
  const stats = { hashed: 0, verified: 0, running: 0, refused: 0 };
  // a running average of one job's time, to tell a refused caller how long the line takes
  let averageMs = 500;

  async function run<T>(job: () => Promise<T>): Promise<T> {
    if (stats.running >= o.concurrency) {
      if (line.length >= o.maxWaiting) {
        stats.refused++;
        const seconds = Math.max(1, Math.ceil(((line.length + stats.running) * averageMs) / o.concurrency / 1000));
        throw tooMany(`Password checks are busy right now; try again in ${seconds} s.`, seconds);
      }
      await new Promise<void>((resolve) => line.push(resolve));
    } else stats.running++;
    // here this job holds one of the running places (handed over by the one that finished)
    const started = Date.now();
    try {
      return await job();
    } finally {
      averageMs = averageMs * 0.9 + (Date.now() - started) * 0.1;
      const next = line.shift();
      if (next) next();
      else stats.running--;
    }
  }

  return {
    hash: (password) => run(() => impl.hash(password).finally(() => void stats.hashed++)),
    verify: (hash, password) => run(() => impl.verify(hash, password).finally(() => void stats.verified++)),
    stats: () => ({ ...stats, waiting: line.length }),
  };
}
