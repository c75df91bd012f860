// Who runs a stream's ffmpeg when Redis blips. The holder keeps its ffmpeg while Redis cannot be
// reached (frozen, restarting): nobody else can take the lease then either, and its next renewal
// takes the lease back. Only Redis answering "someone else holds it" stops the holder.
// BullMQ meanwhile loses the job's lock and hands the job out again: that copy is a standby. It
// starts ffmpeg only when the lease is free and the stream's playlists have gone quiet (a holder
// still cut off from Redis keeps writing them); otherwise it gives the lease straight back.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Log } from '../log.js';
import type { Redis } from '../redis/connection.js';
import { tryAcquireLease, type Lease } from './lease.js';

/** A renewal's outcome: still ours, someone else's, or no answer from Redis (in time). */
export type RenewResult = 'held' | 'taken' | 'unreachable';

/** The holder's rule: only a lease known to be someone else's ends its ffmpeg. */
export function holderVerdict(r: RenewResult): 'keep' | 'lost' {
  return r === 'taken' ? 'lost' : 'keep';
}

/**
 * The standby's rule, once it has taken a lease. A lease its holder released cleanly: start.
 * A lease found free may have expired under a holder that could not reach Redis and still runs
 * ffmpeg: start only if the playlists have been quiet for quietMs (no ffmpeg writes them).
 */
export function standbyVerdict(o: { found: 'free' | 'released'; outputAgeMs: number | null; quietMs: number }): 'start' | 'give-back' {
  if (o.found === 'released' || o.outputAgeMs === null) return 'start';
  return o.outputAgeMs >= o.quietMs ? 'start' : 'give-back';
}

/**
 * Milliseconds since a rendition playlist under outDir that an ffmpeg may still be writing (one
 * without ENDLIST) was last written; null if there is none.
 */
export async function outputAgeMs(outDir: string, now = Date.now()): Promise<number | null> {
  let newest: number | null = null;
  const entries = await readdir(outDir).catch(() => [] as string[]);
  for (const name of entries) {
    const file = path.join(outDir, name, 'index.m3u8');
    const s = await stat(file).catch(() => null);
    if (!s?.isFile() || (newest !== null && s.mtimeMs <= newest)) continue;
    if ((await readFile(file, 'utf8').catch(() => '')).includes('#EXT-X-ENDLIST')) continue;
    newest = s.mtimeMs;
  }
  return newest === null ? null : Math.max(0, now - newest);
}

/**
 * Takes the stream's lease if this job may run ffmpeg now; null when another ffmpeg runs it (or
 * may still run it): the caller stands by and asks again later.
 */
export async function claimLease(redis: Redis, o: { key: string; ttlMs: number; owner: string; outDir: string; quietMs: number; log: Log }): Promise<Lease | null> {
  const lease = await tryAcquireLease(redis, o.key, o.ttlMs, o.owner);
  if (!lease) return null;
  const ageMs = await outputAgeMs(o.outDir);
  if (standbyVerdict({ found: lease.found, outputAgeMs: ageMs, quietMs: o.quietMs }) === 'start') return lease;
  o.log.info({ ageMs }, 'The stream lease expired but its playlists are still being written (a holder cut off from Redis?); giving the lease back.');
  await lease.abandon(); // its holder's next renewal takes it back
  return null;
}

export interface LeaseKeeper {
  /** Aborted when Redis says someone else holds the lease now: stop ffmpeg at once. */
  lost: AbortSignal;
  /** Stops renewing and releases the lease (when still ours). */
  stop(): Promise<void>;
}

/**
 * Renews the lease every everyMs, one renewal at a time (a frozen Redis never piles them up), each
 * given up after timeoutMs.
 */
export function keepLease(o: { lease: Lease; everyMs: number; timeoutMs: number; log: Log }): LeaseKeeper {
  const lost = new AbortController();
  let busy = false;
  let unreachableSince: number | null = null;
  const renew = async (): Promise<RenewResult> => {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'unreachable'>((r) => (timer = setTimeout(() => r('unreachable'), o.timeoutMs)));
    const answer = o.lease.renew().then((held): RenewResult => (held ? 'held' : 'taken'), (): RenewResult => 'unreachable');
    try {
      return await Promise.race([answer, gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  };
  const beat = async () => {
    const result = await renew();
    if (lost.signal.aborted) return;
    if (result === 'unreachable' && unreachableSince === null) {
      unreachableSince = Date.now();
      o.log.warn('Cannot reach Redis to renew the stream lease; ffmpeg keeps running meanwhile.');
    } else if (result !== 'unreachable' && unreachableSince !== null) {
      o.log.info({ afterMs: Date.now() - unreachableSince }, result === 'held' ? 'Redis answers again; the stream lease is ours again.' : 'Redis answers again; another worker holds the stream lease now.');
      unreachableSince = null;
    }
    if (holderVerdict(result) === 'lost') lost.abort('lease-lost');
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void beat().finally(() => (busy = false));
  }, o.everyMs);
  let stopped: Promise<void> | null = null;
  return {
    lost: lost.signal,
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        if (lost.signal.aborted) return;
        // a frozen Redis must not hold up the job's end: the lease then expires by itself
        let t: NodeJS.Timeout | undefined;
        await Promise.race([o.lease.release().catch(() => undefined), new Promise((r) => (t = setTimeout(r, o.timeoutMs)))]);
        clearTimeout(t);
      })();
      return stopped;
    },
  };
}
