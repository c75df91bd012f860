// Which segment a low-latency part belongs to, for viewer analytics. A part's file name
// (`<tag>-part<seq>.m4s`, src/llhls/names.ts) carries a publish-wide sequence number, not its
// segment's MSN: the name is fixed (the preload hint names it) before the packager knows whether
// the part starts a new segment. The worker records seq → MSN here as it writes each part, before
// the file is on disk (so before any viewer can fetch it); the fold (signals.ts) looks the MSN up
// and counts each segment once per viewer and rendition, however many of its parts they fetched.
//
// Keys: <redisPrefix>:an:ll:<playbackId>:<rendition>:<tag>:<bucket>, a hash seq → msn holding
// PART_BUCKET parts (~20 s at 200 ms parts: a small listpack each), expiring PART_KEEP_SECONDS
// after its last part. A line is folded within seconds, and one older than ~3 minutes is refused
// anyway (its minute is frozen, rollup.ts), so 10 minutes loses nothing and keeps a few
// kilobytes per rendition. The tag (the publish's) keeps a new publish's seq 1 apart from the
// last one's.
import type { Log } from '../log.js';
import type { Redis } from '../redis/connection.js';
import { analyticsPrefix } from './signals.js';

export const PART_BUCKET = 100;
export const PART_KEEP_SECONDS = 600;

export interface PartRef {
  playbackId: string;
  rendition: string;
  /** the publish's file name prefix (`<tag>-part<seq>.m4s`) */
  tag: string;
  seq: number;
}

/** The hash holding this part's MSN (its field is the seq); `prefix`: the analytics keys' (Signals.prefix). */
export function partMsnKey(prefix: string, p: PartRef): string {
  return `${prefix}:ll:${p.playbackId}:${p.rendition}:${p.tag}:${Math.floor(p.seq / PART_BUCKET)}`;
}

/** What the worker's rendition writers call for each part they write (never waits, never throws). */
export function createPartMsnRecorder(o: { redis: Redis; redisPrefix: string; log: Log }): (p: PartRef & { msn: number }) => void {
  let warned = false;
  return (p) => {
    const key = partMsnKey(analyticsPrefix(o.redisPrefix), p);
    o.redis
      .multi()
      .hset(key, String(p.seq), String(p.msn))
      .expire(key, PART_KEEP_SECONDS)
      .exec()
      .then(
        () => (warned = false),
        (err: unknown) => {
          // the stream goes on; viewers' parts in the meantime count bytes but no segment
          if (!warned) o.log.warn({ err: (err as Error).message }, 'Could not record low-latency parts for viewer analytics.');
          warned = true;
        },
      );
  };
}
