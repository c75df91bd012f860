import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { randomId, testEnv } from '../testing/harness.js';
import { silentLog } from '../log.js';
import { claimLease } from './lease-keeper.js';
import { tryAcquireLease } from './lease.js';

const redis = new Redis(testEnv().redisUrl);
t.teardown(() => redis.disconnect());

t.test('one holder at a time; only the holder renews or releases; an expired lease is free', async (t) => {
  const key = `t${randomId()}:lease:stream:x`;
  const a = await tryAcquireLease(redis, key, 300, 'worker-a');
  t.ok(a, 'a takes the lease');
  t.equal(await tryAcquireLease(redis, key, 300, 'worker-b'), null, 'b cannot while a holds it');
  t.ok(await a!.renew());
  await new Promise((r) => setTimeout(r, 400)); // a stops renewing (e.g. SIGKILL)
  const b = await tryAcquireLease(redis, key, 5_000, 'worker-b');
  t.ok(b, 'b takes the expired lease');
  t.notOk(await a!.renew(), 'a learns it lost the lease');
  await a!.release();
  t.equal(await redis.get(key), b!.token, 'a cannot release b’s lease');
  t.equal(b!.found, 'free', 'found free: it expired');
  await b!.release();
  t.equal(await redis.get(key), 'released', 'a clean release leaves a short-lived marker');
  const c = await tryAcquireLease(redis, key, 5_000, 'worker-c');
  t.equal(c?.found, 'released', 'the next holder learns the last one let go cleanly');
  await c!.abandon();
  t.equal(await redis.get(key), null, 'an abandoned lease is free as if never taken');
});

t.test('a lease that expired while its holder could not reach Redis is taken back by its renewal', async (t) => {
  const key = `t${randomId()}:lease:stream:z`;
  const a = await tryAcquireLease(redis, key, 200, 'worker-a');
  await new Promise((r) => setTimeout(r, 300)); // Redis frozen or restarting: no renewal in time
  t.equal(await redis.get(key), null, 'expired');
  t.ok(await a!.renew(), 'nobody took it meanwhile: ours again');
  t.equal(await redis.get(key), a!.token);
  t.equal(await tryAcquireLease(redis, key, 200, 'worker-b'), null, 'and held against others');
  await new Promise((r) => setTimeout(r, 300));
  const b = await tryAcquireLease(redis, key, 5_000, 'worker-b');
  t.ok(b, 'expired again, and this time b took it');
  t.notOk(await a!.renew(), 'then a learns it is b’s');
  t.equal(await redis.get(key), b!.token);
});

t.test('a standby never takes a lease whose holder, cut off from Redis, still writes the playlists', async (t) => {
  const outDir = mkdtempSync(path.join(tmpdir(), 'lease-claim-'));
  mkdirSync(path.join(outDir, '360p'));
  const playlist = path.join(outDir, '360p', 'index.m3u8');
  const written = (agoMs: number) => {
    writeFileSync(playlist, '#EXTM3U\n#EXTINF:2.0,\nseg-1.ts\n');
    const at = (Date.now() - agoMs) / 1000;
    utimesSync(playlist, at, at);
  };
  const key = `t${randomId()}:lease:stream:w`;
  const claim = (owner: string) => claimLease(redis, { key, ttlMs: 5_000, owner, outDir, quietMs: 5_000, log: silentLog() });

  const holder = await tryAcquireLease(redis, key, 200, 'holder');
  t.equal(await claim('standby'), null, 'held: the standby waits');
  await new Promise((r) => setTimeout(r, 300)); // the holder cannot renew (Redis frozen for it)
  written(1_000); // but its ffmpeg wrote a segment a second ago
  t.equal(await claim('standby'), null, 'expired, yet the playlists are fresh: the standby gives it back');
  t.equal(await redis.get(key), null, 'given back free, not marked released');
  t.ok(await holder!.renew(), 'so the holder’s next renewal takes it again');

  await holder!.release(); // the holder let go cleanly: its ffmpeg is gone
  const afterRelease = await claim('standby');
  t.equal(afterRelease?.found, 'released', 'a cleanly released lease is taken at once, fresh playlists or not');
  await afterRelease!.abandon();

  written(6_000); // a holder that died: its playlists went quiet
  const afterDeath = await claim('standby-2');
  t.equal(afterDeath?.found, 'free', 'free and quiet: the standby takes over');
});
