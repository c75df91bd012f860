// Register, sign in, me, devices, logout and revocation (also across two API nodes), throttling.
import { Redis } from 'ioredis';
import t from 'tap';
import { silentLog } from '../log.js';
import { createAppDeps } from '../bin/api/deps.js';
import { createBus } from '../redis/bus.js';
import { startTestApi } from '../testing/api.js';
import { testEnv, waitFor } from '../testing/harness.js';

const api = await startTestApi(t, { env: { LOGIN_ACCOUNT_LIMIT: '4', LOGIN_IP_LIMIT: '8', LOGIN_WINDOW: '60' } });
const { call } = api;
const ua = (name: string, ip = '10.0.0.1') => ({ 'user-agent': name, 'x-forwarded-for': ip });

t.test('register answers alike for a new and a taken email; only the first password signs in', async (t) => {
  const first = await call('POST', '/auth/register', { body: { email: 'Reg@Example.com', password: 'first password', name: 'Reggie' } });
  const again = await call('POST', '/auth/register', { body: { email: 'reg@example.COM', password: 'second password', name: 'Impostor' } });
  t.equal(first.status, 202);
  t.same(again.body, first.body, 'same answer, so register cannot tell which emails have accounts');
  const ok = await call('POST', '/auth/login', { body: { email: 'reg@example.com', password: 'first password' } });
  t.equal(ok.status, 200);
  t.same(ok.body.user, { id: ok.body.user.id, email: 'Reg@Example.com', name: 'Reggie', role: 'attendee', createdAt: ok.body.user.createdAt });
  t.equal((await call('POST', '/auth/login', { body: { email: 'reg@example.com', password: 'second password' } })).status, 401);
  const { rows } = await api.pool.query(`SELECT password_hash FROM users WHERE lower(email) = 'reg@example.com'`);
  t.match(rows[0].password_hash, /^\$argon2id\$/, 'argon2id hash');
});

t.test('register validates every field', async (t) => {
  const cases: [unknown, string[]][] = [
    [{}, ['body.email', 'body.password', 'body.name']],
    [{ email: 'not-an-email', password: 'long enough', name: 'A' }, ['body.email']],
    [{ email: 'a@b.example', password: 'short', name: 'A' }, ['body.password']],
    [{ email: 'a@b.example', password: 'long enough', name: ' ' }, ['body.name']],
    [{ email: 'a@b.example', password: 'long enough', name: 'A', role: 'admin' }, ['body']],
  ];
  for (const [body, fields] of cases) {
    const r = await call('POST', '/auth/register', { body });
    t.equal(r.status, 400, JSON.stringify(body));
    t.match(r.type, /application\/problem\+json/);
    t.same(r.body.errors.map((e: { field: string }) => e.field).sort(), fields.sort());
  }
  const { rows } = await api.pool.query(`SELECT role FROM users WHERE lower(email) = 'a@b.example'`);
  t.same(rows, [], 'nothing created, and no way to pick a role');
});

t.test('me, devices, revoking one device and logging out take effect at once', async (t) => {
  const u = await api.user('speaker');
  const laptop = (await call('POST', '/auth/login', { body: { email: u.email, password: u.password }, headers: ua('Laptop Firefox', '198.51.100.7') })).body;
  const phone = (await call('POST', '/auth/login', { body: { email: u.email, password: u.password }, headers: ua('Phone Safari') })).body;

  const me = await call('GET', '/auth/me', { token: laptop.token });
  t.same([me.status, me.body.id, me.body.role, me.body.deviceId], [200, u.id, 'speaker', laptop.deviceId]);

  const devices = await call('GET', '/auth/devices', { token: laptop.token });
  t.equal(devices.status, 200);
  const mine = devices.body.items.find((d: { id: string }) => d.id === laptop.deviceId);
  t.same([mine.userAgent, mine.ip, mine.current], ['Laptop Firefox', '198.51.100.7', true], 'user agent and client IP (X-Forwarded-For from a trusted proxy)');
  t.equal(devices.body.items.find((d: { id: string }) => d.id === phone.deviceId).current, false);
  t.equal(devices.body.items.length, 3, 'the helper login, laptop and phone');
  const first = await call('GET', '/auth/devices?limit=2', { token: laptop.token });
  const rest = await call('GET', `/auth/devices?limit=2&cursor=${first.body.nextCursor}`, { token: laptop.token });
  t.same([...first.body.items, ...rest.body.items].map((d: { id: string }) => d.id), devices.body.items.map((d: { id: string }) => d.id), 'pages walk the same list');
  t.equal(rest.body.nextCursor, null);

  // the phone is lost: revoke it from the laptop
  t.equal((await call('GET', '/auth/me', { token: phone.token })).status, 200);
  t.equal((await call('DELETE', `/auth/devices/${phone.deviceId}`, { token: laptop.token })).status, 204);
  const dead = await call('GET', '/auth/me', { token: phone.token });
  t.same([dead.status, dead.body.code], [401, 'unauthorized'], 'revoked token refused on the next request');
  t.equal((await call('DELETE', `/auth/devices/${phone.deviceId}`, { token: laptop.token })).status, 404, 'already revoked');

  // someone else's device is "not found", and stays signed in
  const other = await api.user('attendee');
  const otherDevice = (await call('GET', '/auth/me', { token: other.token })).body.deviceId;
  t.equal((await call('DELETE', `/auth/devices/${otherDevice}`, { token: laptop.token })).status, 404);
  t.equal((await call('GET', '/auth/me', { token: other.token })).status, 200);

  t.equal((await call('POST', '/auth/logout', { token: laptop.token })).status, 204);
  t.equal((await call('GET', '/auth/me', { token: laptop.token })).status, 401, 'logged-out token is dead');
  t.equal((await call('GET', '/auth/me', { token: u.token })).status, 200, 'other devices stay signed in');
  const left = (await call('GET', '/auth/devices', { token: u.token })).body.items.map((d: { id: string }) => d.id);
  t.same(left, [(await call('GET', '/auth/me', { token: u.token })).body.deviceId]);
});

t.test('a revocation on one API node reaches another node at once (bus), not after the cache expires', async (t) => {
  const u = await api.user('attendee');
  const { redisUrl } = testEnv();
  const pub = new Redis(redisUrl);
  const sub = new Redis(redisUrl);
  t.teardown(() => void (pub.disconnect(), sub.disconnect()));
  const log = silentLog();
  const nodeB = createAppDeps({ config: api.config, log, db: api.pool, redis: pub, bus: createBus({ pub, sub, prefix: api.config.redisPrefix, log }) });
  await new Promise((r) => setTimeout(r, 200)); // let node B's subscriptions land
  t.equal((await nodeB.auth.authenticate(u.token)).id, u.id, 'node B accepts the token and caches the answer');
  t.equal((await call('POST', '/auth/logout', { token: u.token })).status, 204, 'signed out on node A');
  const started = Date.now();
  await waitFor(() => nodeB.auth.authenticate(u.token).then(() => null, (err: { status?: number }) => (err.status === 401 ? true : null)), {
    what: 'node B to refuse the token',
    timeoutMs: 3000,
    intervalMs: 20,
  });
  t.ok(Date.now() - started < 3000, 'well within the 10 s cache lifetime');
});

t.test('a token for another user or an unknown device is refused', async (t) => {
  const u = await api.user('attendee');
  const other = await api.user('admin');
  const otherDevice = (await call('GET', '/auth/me', { token: other.token })).body.deviceId;
  const { createTokenService } = await import('../http/auth.js');
  const tokens = createTokenService({ secret: api.config.jwtSecret, expiresInSeconds: 60 });
  const forged = await tokens.sign({ userId: u.id, deviceId: otherDevice });
  t.equal((await call('GET', '/auth/me', { token: forged })).status, 401, "someone else's device");
  const ghost = await tokens.sign({ userId: u.id, deviceId: '6f1c1a56-5a26-4c4e-9a51-1d6f2e0e8d11' });
  t.equal((await call('GET', '/auth/me', { token: ghost })).status, 401, 'a device that was never created');
  const short = createTokenService({ secret: api.config.jwtSecret, expiresInSeconds: 1 });
  const device = (await call('GET', '/auth/me', { token: u.token })).body.deviceId;
  const expiring = await short.sign({ userId: u.id, deviceId: device });
  await new Promise((r) => setTimeout(r, 2100));
  t.equal((await call('GET', '/auth/me', { token: expiring })).status, 401, 'expired');
  t.equal((await call('GET', '/auth/me', { headers: { authorization: 'Basic abc' } })).status, 401, 'not a bearer token');
});

t.test('failed sign-ins are throttled per account (known or not) with Retry-After', async (t) => {
  const u = await api.user('attendee');
  for (const email of [u.email, 'nobody-here@example.com']) {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await call('POST', '/auth/login', { body: { email, password: 'wrong password' }, headers: ua('x', `10.1.0.${i}`) })).status);
    t.same(statuses, [401, 401, 401, 401, 429], `${email === u.email ? 'known' : 'unknown'} account: the 5th attempt is refused`);
  }
  const locked = await call('POST', '/auth/login', { body: { email: u.email.toUpperCase(), password: u.password }, headers: ua('x', '10.1.1.1') });
  t.equal(locked.status, 429, 'even the right password waits (and the email case does not matter)');
  const retry = Number(locked.headers.get('retry-after'));
  t.ok(retry >= 1 && retry <= 60, `Retry-After ${retry} s within the window`);
  t.same([locked.body.code, locked.body.retryAfterSeconds], ['rate_limited', retry], 'one code for every rate limit; the wait in the body too');
  t.notOk(JSON.stringify(locked.body).includes(u.email.split('@')[0]!), 'the answer does not echo the account');
});

t.test('failed sign-ins are throttled per client IP across accounts', async (t) => {
  const statuses: number[] = [];
  for (let i = 0; i < 9; i++) statuses.push((await call('POST', '/auth/login', { body: { email: `spray-${i}@example.com`, password: 'guess' }, headers: ua('x', '203.0.113.9') })).status);
  t.same(statuses, [401, 401, 401, 401, 401, 401, 401, 401, 429]);
  const u = await api.user('attendee');
  const fromElsewhere = await call('POST', '/auth/login', { body: { email: u.email, password: u.password }, headers: ua('x', '203.0.113.10') });
  t.equal(fromElsewhere.status, 200, 'another IP is not affected');
  const success = await call('POST', '/auth/login', { body: { email: u.email, password: u.password }, headers: ua('x', '203.0.113.9') });
  t.equal(success.status, 429, 'the spraying IP waits even with a right password');
});

t.test('login answers take about as long for an unknown email as for a wrong password', async (t) => {
  const u = await api.user('moderator');
  const time = async (email: string, i: number) => {
    const started = process.hrtime.bigint();
    await call('POST', '/auth/login', { body: { email, password: 'not it' }, headers: ua('x', `10.9.${i}.1`) });
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 3; i++) {
    known.push(await time(u.email, i));
    unknown.push(await time(`ghost-${i}@example.com`, i + 50));
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[1]!;
  const ratio = median(unknown) / median(known);
  // both verify an argon2id hash; a shortcut for unknown emails would be ~100x faster
  t.ok(ratio > 0.3 && ratio < 3, `unknown/known median time ratio ${ratio.toFixed(2)}`);
});
