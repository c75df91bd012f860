import { mkdtempSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { silentLog } from '../log.js';
import type { Lease } from './lease.js';
import { holderVerdict, keepLease, outputAgeMs, standbyVerdict } from './lease-keeper.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('the holder stops only when Redis says the lease is someone else’s', async (t) => {
  t.equal(holderVerdict('held'), 'keep');
  t.equal(holderVerdict('unreachable'), 'keep', 'Redis frozen or down: nobody else can take it either');
  t.equal(holderVerdict('taken'), 'lost');
});

t.test('a standby starts on a released lease, or on a free one whose playlists went quiet', async (t) => {
  const quietMs = 5_000;
  t.equal(standbyVerdict({ found: 'released', outputAgeMs: 100, quietMs }), 'start', 'its holder let go: its ffmpeg is gone');
  t.equal(standbyVerdict({ found: 'free', outputAgeMs: null, quietMs }), 'start', 'nothing written yet');
  t.equal(standbyVerdict({ found: 'free', outputAgeMs: 6_000, quietMs }), 'start', 'quiet: the old holder is dead');
  t.equal(standbyVerdict({ found: 'free', outputAgeMs: 1_000, quietMs }), 'give-back', 'still written: a holder cut off from Redis may run');
});

t.test('playlist age: the newest rendition playlist without ENDLIST', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lease-keeper-'));
  t.teardown(() => undefined);
  t.equal(await outputAgeMs(path.join(dir, 'missing')), null);
  const write = (name: string, text: string, ageMs: number) => {
    mkdirSync(path.join(dir, name), { recursive: true });
    const file = path.join(dir, name, 'index.m3u8');
    writeFileSync(file, text);
    const at = (Date.now() - ageMs) / 1000;
    utimesSync(file, at, at);
  };
  write('720p', '#EXTM3U\n#EXT-X-ENDLIST\n', 0); // finished: nobody writes it any more
  t.equal(await outputAgeMs(dir), null);
  write('360p', '#EXTM3U\nseg1.ts\n', 9_000);
  write('480p', '#EXTM3U\nseg1.ts\n', 3_000);
  const age = await outputAgeMs(dir);
  t.ok(age !== null && age >= 2_900 && age < 4_000, `the newest one counts (${age} ms)`);
});

/** A lease whose renewals answer what the test says, counting how many are in flight. */
function fakeLease(answer: () => Promise<boolean>) {
  const seen = { renewals: 0, inFlight: 0, mostInFlight: 0, released: 0 };
  const lease: Lease = {
    key: 'k',
    token: 'tok',
    found: 'free',
    async renew() {
      seen.renewals += 1;
      seen.inFlight += 1;
      seen.mostInFlight = Math.max(seen.mostInFlight, seen.inFlight);
      try {
        return await answer();
      } finally {
        seen.inFlight -= 1;
      }
    },
    async release() {
      seen.released += 1;
    },
    async abandon() {},
  };
  return { lease, seen };
}

t.test('Redis not answering: the keeper keeps the lease, one renewal at a time, and gets it back', async (t) => {
  let frozen = true;
  const waiting: (() => void)[] = [];
  const { lease, seen } = fakeLease(() => (frozen ? new Promise<boolean>((r) => waiting.push(() => r(true))) : Promise.resolve(true)));
  const keeper = keepLease({ lease, everyMs: 20, timeoutMs: 50, log: silentLog() });
  await sleep(500);
  t.notOk(keeper.lost.aborted, 'not lost while Redis does not answer');
  t.ok(seen.renewals >= 4, `renewals given up in time and tried again (${seen.renewals})`);
  t.ok(seen.renewals <= 500 / 50 + 2, 'at most one per timeout: none piles up behind a frozen Redis');
  frozen = false;
  for (const w of waiting) w();
  await sleep(100);
  t.notOk(keeper.lost.aborted, 'Redis back, the lease still ours');
  const rejecting = fakeLease(() => Promise.reject(new Error('ECONNREFUSED')));
  const down = keepLease({ lease: rejecting.lease, everyMs: 20, timeoutMs: 50, log: silentLog() });
  await sleep(200);
  t.notOk(down.lost.aborted, 'Redis down (refused): kept too');
  await Promise.all([keeper.stop(), down.stop()]);
  t.equal(seen.released, 1, 'released when the job ends');
});

t.test('Redis answering "someone else’s": lost at once, and not released', async (t) => {
  let held = true;
  const { lease, seen } = fakeLease(async () => held);
  const keeper = keepLease({ lease, everyMs: 20, timeoutMs: 50, log: silentLog() });
  await sleep(100);
  t.notOk(keeper.lost.aborted);
  held = false;
  await sleep(100);
  t.ok(keeper.lost.aborted, 'lost');
  t.equal(keeper.lost.reason, 'lease-lost');
  await keeper.stop();
  t.equal(seen.released, 0, 'a lease that is someone else’s is not touched');
});

t.test('stop does not wait on a frozen Redis', async (t) => {
  const { lease } = fakeLease(async () => true);
  lease.release = () => new Promise(() => undefined);
  const keeper = keepLease({ lease, everyMs: 1_000, timeoutMs: 100, log: silentLog() });
  const started = Date.now();
  await keeper.stop();
  t.ok(Date.now() - started < 1_000);
});
