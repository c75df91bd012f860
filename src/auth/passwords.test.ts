// The argon2 cost in production, the test-only cost, and the bounded queue every hash waits in.
import t from 'tap';
import { loadConfig } from '../config.js';
import { AppError } from '../errors.js';
import { createPasswordHasher, hashPassword, PRODUCTION_ARGON2, type HashImpl } from './passwords.js';

t.test('production hashes are argon2id at 64 MiB, 3 passes, 4 lanes; the cheap cost needs PASSWORD_HASH_COST=test', async (t) => {
  t.same({ ...PRODUCTION_ARGON2 }, { type: 2, memoryCost: 65_536, timeCost: 3, parallelism: 4 });
  const base = { DATABASE_URL: 'postgres://x/y', REDIS_URL: 'redis://x', JWT_SECRET: 'j'.repeat(40), PLAYBACK_SECRET: 'p'.repeat(40) };
  const standard = createPasswordHasher(loadConfig(base, 'api').passwords);
  t.match(await standard.hash('a password'), /^\$argon2id\$v=19\$m=65536,p=4,t=3\$/, 'what the api hashes with by default');
  t.match(await hashPassword('a password'), /^\$argon2id\$v=19\$m=65536,p=4,t=3\$/, 'the seeding helper too');
  const cheap = createPasswordHasher(loadConfig({ ...base, PASSWORD_HASH_COST: 'test' }, 'api').passwords);
  const hash = await cheap.hash('a password');
  t.match(hash, /^\$argon2id\$v=19\$m=1024,p=1,t=1\$/);
  t.equal(await standard.verify(hash, 'a password'), true, 'any cost verifies: the parameters are in the hash');
  t.equal(await standard.verify(hash, 'another'), false);
  t.equal(await standard.verify('not a hash', 'a password'), false, 'a malformed hash is a no, not an error');
  t.same(standard.stats(), { hashed: 1, verified: 3, running: 0, waiting: 0, refused: 0 });
});

/** A hash that finishes only when the test says so. */
function controlled() {
  const pending: (() => void)[] = [];
  const impl: HashImpl = {
    hash: (p) => new Promise((resolve) => pending.push(() => resolve(`h:${p}`))),
    verify: (h, p) => new Promise((resolve) => pending.push(() => resolve(h === `h:${p}`))),
  };
  return { impl, finishOne: () => pending.shift()!(), get pending() { return pending.length; } };
}

const tick = () => new Promise((r) => setImmediate(r));

t.test('at most `concurrency` hashes run; a bounded line waits; past it, 429 rate_limited with the seconds to wait', async (t) => {
  const fake = controlled();
  const hasher = createPasswordHasher({ cost: 'test', concurrency: 2, maxWaiting: 3, impl: fake.impl });
  const jobs = [1, 2, 3, 4, 5].map((i) => hasher.hash(`p${i}`));
  await tick();
  t.equal(fake.pending, 2, 'two running in argon2');
  t.same(hasher.stats(), { hashed: 0, verified: 0, running: 2, waiting: 3, refused: 0 });
  const refused = await hasher.verify('h:x', 'x').then(() => null, (err: unknown) => err);
  t.ok(refused instanceof AppError);
  t.same([(refused as AppError).status, (refused as AppError).code], [429, 'rate_limited']);
  t.ok(Number((refused as AppError).details?.retryAfterSeconds) >= 1, 'says how long to wait');
  t.equal(hasher.stats().refused, 1);

  fake.finishOne();
  t.equal(await jobs[0], 'h:p1');
  await tick();
  t.equal(fake.pending, 2, 'the first in line took the free place');
  t.same(hasher.stats(), { hashed: 1, verified: 0, running: 2, waiting: 2, refused: 1 });
  while (fake.pending > 0) {
    fake.finishOne();
    await tick();
    await tick();
    t.ok(fake.pending <= 2, 'never more than two at once');
  }
  t.same(await Promise.all(jobs), ['h:p1', 'h:p2', 'h:p3', 'h:p4', 'h:p5'], 'in order, each answered');
  t.same(hasher.stats(), { hashed: 5, verified: 0, running: 0, waiting: 0, refused: 1 });
});

t.test('a failing hash frees its place', async (t) => {
  const hasher = createPasswordHasher({
    cost: 'test', concurrency: 1, maxWaiting: 0,
    impl: { hash: () => Promise.reject(new Error('boom')), verify: () => Promise.resolve(true) },
  });
  await t.rejects(hasher.hash('x'), /boom/);
  t.equal(await hasher.verify('h', 'x'), true, 'the place came back');
  t.equal(hasher.stats().running, 0);
});
