// Sign-in, registration and set-password throttling in Redis (rate-limiter-flexible: atomic Lua
// counters, shared by every API node).
//
// An attempt is counted BEFORE the password (or token) is checked, atomically, so fifty attempts
// at once each get their own number and only those within the allowance are checked; a success
// gives its count back. Past an allowance nothing is locked for a fixed time: attempts go one at a
// time through a gate that reopens after a growing delay (1 s, 2 s, 4 s … up to LOGIN_MAX_DELAY)
// after each failure. Refused attempts cost no hash and do not count.
//
// Sign-in is counted three ways:
//  - per account + IP (LOGIN_ACCOUNT_IP_LIMIT): a guesser at one account from one address;
//  - per IP (LOGIN_IP_LIMIT, venue-sized: 500 attendees behind one NAT make typos): a sprayer;
//  - per account over all IPs (LOGIN_ACCOUNT_LIMIT): many addresses at one account. Its gate only
//    holds attempts from an IP that has already failed on that account, so strangers cannot lock
//    the owner out: the owner's first attempt from their own address is never held by it.
// Account keys are a digest of the lower-cased email whether or not the account exists, so a 429
// says nothing about which emails have accounts.
import { createHash } from 'node:crypto';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { AuthLimits } from '../config.js';
import { tooMany, unavailable } from '../errors.js';
import type { Redis } from '../redis/connection.js';

/** How long an attempt past the allowance holds its turn at most (its check's own time; a failure then sets the delay). */
const HOLD_SECONDS = 30;
/** Counters that only count (the decision is ours): never "full". */
const UNLIMITED = 1_000_000_000;

/** One counted attempt: say how it ended, exactly once. */
export interface Attempt {
  failed(): Promise<void>;
  succeeded(): Promise<void>;
  /** Neither (an error before the answer was known): the attempt gives back what it took. */
  abandoned(): Promise<void>;
}

export interface AuthThrottle {
  /** Counts a sign-in attempt; throws 429 `rate_limited` (with the seconds to wait) when it must wait. */
  login(email: string, ip: string): Promise<Attempt>;
  /** Counts one registration per IP and per email; throws 429 past either. */
  register(email: string, ip: string): Promise<void>;
  /** Counts a set-password attempt per IP (bad tokens) and per token; throws 429 past either. */
  setPassword(tokenDigest: Buffer, ip: string): Promise<Attempt>;
}

const digestOf = (text: string) => createHash('sha256').update(text).digest('base64url');
const emailKey = (email: string) => digestOf(email.trim().toLowerCase());

const storeDown = () => unavailable('Signing in is unavailable for a moment; try again shortly.');
/** rate-limiter-flexible rejects with a RateLimiterRes when over a limit and with an Error when Redis fails. */
const refusal = (rej: unknown) => {
  if (!(rej instanceof RateLimiterRes)) return storeDown();
  const seconds = Math.max(1, Math.ceil(rej.msBeforeNext / 1000));
  return tooMany(`Too many attempts; wait ${seconds} s before trying again.`, seconds);
};
const quietly = (p: Promise<unknown>) => p.then(() => undefined, () => undefined);

interface Taken {
  key: string;
  n: number;
  gated: boolean;
}

/**
 * A failure counter with an allowance; past it, one attempt at a time (the hold) and only after the
 * delay the last failure set.
 */
function escalating(o: { redis: Redis; keyPrefix: string; free: number; windowSeconds: number; maxDelaySeconds: number }) {
  const counter = new RateLimiterRedis({ storeClient: o.redis, keyPrefix: `${o.keyPrefix}:n`, points: UNLIMITED, duration: o.windowSeconds });
  const hold = new RateLimiterRedis({ storeClient: o.redis, keyPrefix: `${o.keyPrefix}:hold`, points: 1, duration: HOLD_SECONDS });
  const wait = new RateLimiterRedis({ storeClient: o.redis, keyPrefix: `${o.keyPrefix}:wait`, points: 1, duration: 1 });
  const delay = (n: number) => Math.min(o.maxDelaySeconds, 2 ** Math.min(30, n - o.free));
  /** Refuses while the last failure's delay runs. */
  const assertNotWaiting = async (key: string) => {
    const w = await wait.get(key).catch((err: unknown) => Promise.reject(refusal(err)));
    if (w && w.consumedPoints > 1) throw refusal(w);
  };
  return {
    /** Counts the attempt. The last free one and every later one go one at a time, after the delay (unless `gated` is false). */
    async take(key: string, gated = true): Promise<Taken> {
      const n = await counter.consume(key).then((r) => r.consumedPoints, (rej: unknown) => Promise.reject(refusal(rej)));
      if (n < o.free || !gated) return { key, n, gated: false };
      try {
        await assertNotWaiting(key);
        // another attempt past the allowance is being checked right now: try again in a moment
        await hold.consume(key).catch((rej: unknown) => Promise.reject(rej instanceof RateLimiterRes ? refusal(new RateLimiterRes(0, 1000)) : refusal(rej)));
        // checked again while holding: a failure that set its delay and let go just before is seen now
        await assertNotWaiting(key).catch(async (err: unknown) => {
          await quietly(hold.delete(key));
          throw err;
        });
      } catch (err) {
        await quietly(counter.reward(key));
        throw err;
      }
      return { key, n, gated: true };
    },
    /** Failures stay counted; past the allowance the next attempt waits the next delay. */
    async failed(t: Taken) {
      if (!t.gated) return;
      await quietly(wait.block(t.key, delay(t.n)));
      await quietly(hold.delete(t.key));
    },
    /** `forget`: the whole record goes (the owner proved themselves); otherwise only this attempt's count. */
    async succeeded(t: Taken, forget: boolean) {
      await quietly(forget ? Promise.all([counter.delete(t.key), wait.delete(t.key)]) : counter.reward(t.key));
      if (t.gated) await quietly(hold.delete(t.key));
    },
    async abandoned(t: Taken) {
      await quietly(counter.reward(t.key));
      if (t.gated) await quietly(hold.delete(t.key));
    },
  };
}

type Escalating = ReturnType<typeof escalating>;

/** Takes from each in turn; a refusal gives back what the earlier ones took. */
async function takeAll(steps: { from: Escalating; key: string; gated?: (earlier: Taken[]) => boolean }[]): Promise<Taken[]> {
  const taken: Taken[] = [];
  try {
    for (const s of steps) taken.push(await s.from.take(s.key, s.gated ? s.gated(taken) : true));
    return taken;
  } catch (err) {
    await Promise.all(taken.map((t, i) => steps[i]!.from.abandoned(t)));
    throw err;
  }
}

export function createAuthThrottle(opts: { redis: Redis; prefix: string; limits: AuthLimits }): AuthThrottle {
  const { redis, limits } = opts;
  const common = { redis, windowSeconds: limits.windowSeconds, maxDelaySeconds: limits.maxDelaySeconds };
  const pair = escalating({ ...common, keyPrefix: `${opts.prefix}:login:aip`, free: limits.accountIpFailures });
  const byIp = escalating({ ...common, keyPrefix: `${opts.prefix}:login:ip`, free: limits.ipFailures });
  const account = escalating({ ...common, keyPrefix: `${opts.prefix}:login:acct`, free: limits.accountFailures });
  const setPasswordIp = escalating({ ...common, keyPrefix: `${opts.prefix}:setpw:ip`, free: limits.setPasswordIpFailures });
  const hardLimit = (name: string, points: number) =>
    new RateLimiterRedis({ storeClient: redis, keyPrefix: `${opts.prefix}:${name}`, points, duration: limits.windowSeconds });
  const registerIp = hardLimit('register:ip', limits.registerPerIp);
  const registerEmail = hardLimit('register:email', limits.registerPerEmail);
  const setPasswordToken = hardLimit('setpw:token', limits.setPasswordTokenAttempts);
  const consume = (l: RateLimiterRedis, key: string) => l.consume(key).catch((rej: unknown) => Promise.reject(refusal(rej)));

  return {
    async login(email, ip) {
      const acct = emailKey(email);
      const steps = [
        { from: pair, key: `${acct}:${ip}` },
        { from: byIp, key: ip },
        // held only for an IP that already has an attempt on this account in the window (n > 1)
        { from: account, key: acct, gated: (earlier: Taken[]) => earlier[0]!.n > 1 },
      ];
      const taken = await takeAll(steps);
      let settled = false;
      const settle = (fn: (s: (typeof steps)[number], t: Taken) => Promise<void>) => async () => {
        if (settled) return;
        settled = true;
        await Promise.all(taken.map((t, i) => fn(steps[i]!, t)));
      };
      return {
        failed: settle((s, t) => s.from.failed(t)),
        // a success clears the account+IP record; the IP's and the account's counts keep their failures
        succeeded: settle((s, t) => s.from.succeeded(t, s.from === pair)),
        abandoned: settle((s, t) => s.from.abandoned(t)),
      };
    },

    async register(email, ip) {
      await consume(registerIp, ip);
      await consume(registerEmail, emailKey(email));
    },

    async setPassword(tokenDigest, ip) {
      await consume(setPasswordToken, tokenDigest.toString('base64url'));
      const [t] = await takeAll([{ from: setPasswordIp, key: ip }]);
      let settled = false;
      const once = (fn: () => Promise<void>) => async () => {
        if (settled) return;
        settled = true;
        await fn();
      };
      return {
        failed: once(() => setPasswordIp.failed(t!)),
        succeeded: once(() => setPasswordIp.succeeded(t!, false)),
        abandoned: once(() => setPasswordIp.abandoned(t!)),
      };
    },
  };
}
