import { Redis } from 'ioredis';
import t from 'tap';
import { randomId, testEnv } from '../testing/harness.js';
import { acquireLease, tryAcquireLease } from './lease.js';

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
  await b!.release();
  t.equal(await redis.get(key), null);
});

t.test('acquireLease waits for a dying holder, and gives up in time', async (t) => {
  const key = `t${randomId()}:lease:stream:y`;
  await tryAcquireLease(redis, key, 600, 'dead-worker');
  const started = Date.now();
  const lease = await acquireLease(redis, { key, ttlMs: 1_000, owner: 'w', waitMs: 3_000 });
  t.ok(lease);
  t.ok(Date.now() - started >= 400, 'it waited for the expiry');
  const none = await acquireLease(redis, { key, ttlMs: 1_000, owner: 'w2', waitMs: 300 });
  t.equal(none, null);
});
