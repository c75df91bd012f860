import { Redis } from 'ioredis';
import t from 'tap';
import { randomId, testEnv } from '../testing/harness.js';
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
