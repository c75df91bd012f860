// Redis connections. BullMQ's blocking connections need maxRetriesPerRequest: null; ordinary
// command connections fail fast so callers can answer "unavailable" instead of hanging: while
// Redis is down a command fails after two reconnect attempts, and while it is up but not
// answering (frozen, swapping) after COMMAND_TIMEOUT_MS. BullMQ's own connections get no command
// timeout: its blocking commands wait for jobs by design, and it retries on its own.
import { Redis } from 'ioredis';
import type { Log } from '../log.js';

export type { Redis };

export const COMMAND_TIMEOUT_MS = 2_000;

export function createRedis(opts: { url: string; log: Log; purpose: string; blocking?: boolean }): Redis {
  const redis = new Redis(opts.url, {
    maxRetriesPerRequest: opts.blocking ? null : 2,
    ...(opts.blocking ? {} : { commandTimeout: COMMAND_TIMEOUT_MS }),
    enableReadyCheck: true,
    lazyConnect: false,
    connectionName: `onair-${opts.purpose}`,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  let warned = false;
  redis.on('error', (err) => {
    if (!warned) opts.log.warn({ purpose: opts.purpose, err: err.message }, 'Redis connection failed; retrying.');
    warned = true;
  });
  redis.on('ready', () => {
    if (warned) opts.log.info({ purpose: opts.purpose }, 'Redis connection is back.');
    warned = false;
  });
  return redis;
}
