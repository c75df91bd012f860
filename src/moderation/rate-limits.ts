// Per-user flood limits, the "rate limit" part of "may this person do this now". Counted in
// Redis (rate-limiter-flexible: one atomic Lua call per attempt), so they hold across every API
// node and across REST and WebSocket together: a user sending chat over two sockets and REST
// on two nodes draws on one budget. The moderation service owns this and hands it out; the
// WebSocket per-connection buckets (realtime/limits.ts) stay in front as the first wall.
//
// Each action has a rate (`points` per `seconds`, a fixed window per user) and an optional burst
// reserve (BurstyRateLimiter: used only once the rate is spent, refilled on its own window). So
// over any T seconds a user gets at most points × (⌊T/seconds⌋ + 1) + burst × (⌊T/burst s⌋ + 1).
//
// Callers take a point FIRST, before any Postgres work, so a flood is refused for the price of
// one Redis round trip; and once Redis has said a window is spent, this node refuses that user
// from memory until the window ends (inMemoryBlockOnConsumed), without asking Redis again.
// Redis unreachable: chat messages, questions, upvotes and votes (which need only Postgres since
// their frames go out through the outbox) are counted in this node's memory with the same
// budget (per node, so across N nodes a user gets at most N budgets while Redis is away); the
// other actions are refused with `unavailable` (fail closed); one log line says so.
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateAction, RateLimit, RateLimits } from '../config.js';
import { tooMany, unavailable } from '../errors.js';
import type { Log } from '../log.js';
import type { Redis } from '../redis/connection.js';

export type { RateAction } from '../config.js';

/** Who is counted: a signed-in user, or the client IP for requests without one. */
export type Counted = { id: string } | { ip: string };

export interface RateLimiters {
  /** Takes one point of the action's budget, or throws 429 `rate_limited` with retryAfterSeconds. */
  take(who: Counted, action: RateAction): Promise<void>;
}

/** What the refusal calls the action, in "You are sending … too fast". */
export const RATE_NOUNS: Record<RateAction, string> = {
  chat: 'messages',
  question: 'questions',
  upvote: 'upvotes',
  vote: 'votes',
  typing: 'typing notices',
  join: 'event joins',
  import: 'imports',
  upload: 'uploads',
};

/** The one refusal, REST and WebSocket, per-user and per-connection alike (whole seconds, at least 1). */
export function rateLimited(what: string, seconds: number) {
  const wait = Math.max(1, Math.ceil(seconds));
  return tooMany(`You are sending ${what} too fast; wait ${wait} s.`, wait);
}

const OUTAGE_LOG_EVERY_MS = 10_000;

/** The actions that fall back to a per-node count in memory while Redis is unreachable. */
const COUNTED_IN_MEMORY_WITHOUT_REDIS: ReadonlySet<RateAction> = new Set<RateAction>(['chat', 'question', 'upvote', 'vote']);

export function createRateLimiters(o: { redis: Redis; prefix: string; limits: RateLimits; log: Log }): RateLimiters {
  const limiter = (action: RateAction, l: RateLimit) => {
    const base = { storeClient: o.redis, rejectIfRedisNotReady: true };
    const fallback = COUNTED_IN_MEMORY_WITHOUT_REDIS.has(action);
    const insurance = (points: number, duration: number) => (fallback ? { insuranceLimiter: new RateLimiterMemory({ points, duration }) } : {});
    // blocked in memory for the rest of the window (as Redis reports it) from the first refusal on
    const rate = new RateLimiterRedis({
      ...base, keyPrefix: `${o.prefix}:rl:${action}`, points: l.points, duration: l.seconds, inMemoryBlockOnConsumed: l.points + 1, ...insurance(l.points, l.seconds),
    });
    if (!l.burst) return rate;
    const burst = { keyPrefix: `${o.prefix}:rl:${action}:burst`, points: l.burst.points, duration: l.burst.seconds, inMemoryBlockOnConsumed: l.burst.points + 1 };
    return new BurstyRateLimiter(rate, new RateLimiterRedis({ ...base, ...burst, ...insurance(l.burst.points, l.burst.seconds) }));
  };
  const limiters = Object.fromEntries(Object.entries(o.limits).map(([a, l]) => [a, limiter(a as RateAction, l)])) as Record<RateAction, RateLimiterRedis | BurstyRateLimiter>;
  let loggedAt = 0;

  return {
    async take(who, action) {
      const key = 'id' in who ? `u:${who.id}` : `ip:${who.ip}`;
      try {
        await limiters[action].consume(key);
      } catch (err) {
        if (err instanceof RateLimiterRes) throw rateLimited(RATE_NOUNS[action], err.msBeforeNext / 1000);
        if (Date.now() - loggedAt > OUTAGE_LOG_EVERY_MS) {
          loggedAt = Date.now();
          o.log.warn({ action, err: (err as Error).message }, 'Rate limits cannot be checked (Redis unreachable?); refusing the action with unavailable.');
        }
        throw unavailable('This is unavailable for a moment (Redis is unreachable); try again shortly.');
      }
    },
  };
}
