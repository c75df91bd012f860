// The worker's side of the LL-HLS feed (feed.ts): after a rendition's files are in place, one
// `llhls.part` message on the bus for the origins holding requests, and the same message kept under
// `lastKey` for an origin that starts (or restarts) mid-stream.
import type { Log } from '../log.js';
import type { Bus } from '../redis/bus.js';
import type { Redis } from '../redis/connection.js';
import { LAST_TTL_SECONDS, lastKey, type LlPartMessage } from './feed.js';

export interface LlFeed {
  /** Never throws: a lost message only delays viewers until the next part (every ~200 ms). */
  publish(message: LlPartMessage): Promise<void>;
}

export function createLlFeed(o: { bus: Bus; redis: Redis; prefix: string; log: Log }): LlFeed {
  let lastWarned = 0;
  return {
    async publish(message) {
      try {
        await Promise.all([
          o.bus.publish('llhls.part', message),
          o.redis.set(lastKey(o.prefix, message.playbackId, message.rendition), JSON.stringify(message), 'EX', LAST_TTL_SECONDS),
        ]);
      } catch (err) {
        // five parts a second per rendition: say it once a minute, not every time
        if (Date.now() - lastWarned > 60_000) {
          lastWarned = Date.now();
          o.log.warn({ err: (err as Error).message, playbackId: message.playbackId }, 'Could not publish a low-latency playlist; viewers wait for the next part.');
        }
      }
    },
  };
}
