// Per-connection rate limits (token buckets): every frame counts against an overall budget, and
// chat, questions and poll creation against their own. They are the first wall, in memory; the
// per-user limits in Redis (moderation/rate-limits.ts) come next. A refused frame gets the same
// visible error as those (`rate_limited`, retryAfterSeconds); the socket stays up.
import { rateLimited } from '../moderation/rate-limits.js';
import type { ClientType } from './protocol.js';

export interface Bucket {
  burst: number;
  perSecond: number;
}

export type Limits = { all: Bucket } & Partial<Record<ClientType, Bucket>>;

export const DEFAULT_LIMITS: Limits = {
  all: { burst: 40, perSecond: 20 },
  'chat:send': { burst: 10, perSecond: 5 },
  'question:ask': { burst: 3, perSecond: 0.2 },
  'poll:create': { burst: 5, perSecond: 0.5 },
};

export interface Limiter {
  /** Takes one token for the frame type (and the overall budget) or throws 429. */
  take(key: object, type: ClientType): void;
}

export function createLimiter(limits: Limits = DEFAULT_LIMITS, now: () => number = Date.now): Limiter {
  const state = new WeakMap<object, Map<string, { tokens: number; at: number }>>();
  const takeOne = (buckets: Map<string, { tokens: number; at: number }>, name: string, b: Bucket, what: string) => {
    const t = now();
    const s = buckets.get(name) ?? { tokens: b.burst, at: t };
    s.tokens = Math.min(b.burst, s.tokens + ((t - s.at) / 1000) * b.perSecond);
    s.at = t;
    buckets.set(name, s);
    if (s.tokens < 1) {
      throw rateLimited(what, (1 - s.tokens) / b.perSecond);
    }
    s.tokens -= 1;
  };
  return {
    take(key, type) {
      let buckets = state.get(key);
      if (!buckets) state.set(key, (buckets = new Map()));
      takeOne(buckets, 'all', limits.all, 'frames');
      const b = limits[type];
      if (b) takeOne(buckets, type, b, type === 'chat:send' ? 'messages' : type === 'question:ask' ? 'questions' : 'polls');
    },
  };
}
