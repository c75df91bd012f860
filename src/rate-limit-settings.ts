// The per-user flood limits' settings (RATE_LIMIT_*): their format, parser and defaults. Read
// from the environment by config.ts only; enforced by moderation/rate-limits.ts.
import { parseDuration } from './durations.js';

/** How often one user may do an action: `points` per `seconds`, plus an optional reserve for bursts. */
export interface RateLimit {
  points: number;
  seconds: number;
  /** Extra points usable once the rate is used up, refilled every `seconds` of its own. */
  burst: { points: number; seconds: number } | null;
}

export const RATE_ACTIONS = ['chat', 'question', 'upvote', 'vote', 'typing', 'join', 'import', 'upload'] as const;
export type RateAction = (typeof RATE_ACTIONS)[number];
export type RateLimits = Record<RateAction, RateLimit>;

/**
 * The defaults, sized so an honest attendee of a busy event never meets them and a script does:
 * chat 5 messages/s with bursts up to 10, a question every 5 s (3 at once), votes and upvotes
 * 5/s (10 at once), a typing notice every 2 s, 10 event joins a minute, 6 imports an hour,
 * 30 image uploads a minute (an organiser trying logos) with 30 more in ten minutes.
 */
export const DEFAULT_RATE_LIMITS: Record<RateAction, string> = {
  chat: '5/1s+5/10s',
  question: '1/5s+2/60s',
  upvote: '5/1s+5/10s',
  vote: '5/1s+5/10s',
  typing: '1/2s',
  join: '10/1m',
  import: '6/1h',
  upload: '30/1m+30/10m',
};

/** Parses `<points>/<duration>[+<points>/<duration>]`, e.g. `5/1s+5/10s`; null when it is not that. */
export function parseRateLimit(text: string): RateLimit | null {
  const m = /^(\d{1,6})\/(\d+[smhd]?)(?:\+(\d{1,6})\/(\d+[smhd]?))?$/.exec(text.replace(/\s+/g, ''));
  if (!m) return null;
  const points = Number(m[1]);
  const seconds = parseDuration(m[2]!);
  if (points < 1 || seconds === null || seconds > 86400) return null;
  if (m[3] === undefined) return { points, seconds, burst: null };
  const burstPoints = Number(m[3]);
  const burstSeconds = parseDuration(m[4]!);
  if (burstPoints < 1 || burstSeconds === null || burstSeconds > 86400) return null;
  return { points, seconds, burst: { points: burstPoints, seconds: burstSeconds } };
}
