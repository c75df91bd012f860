// The REST API in-process (createApp, never listening by itself) against real Postgres and Redis:
// health, sign-in basics, token checks, streams.
import { createHash } from 'node:crypto';
import t from 'tap';
import { startTestApi } from '../testing/api.js';
import { hashPassword } from '../auth/passwords.js';
import { createTokenService } from './auth.js';

const { pool, call } = await startTestApi(t);

await pool.query(`INSERT INTO users (email, name, role, password_hash) VALUES ('Admin@Example.com', 'Ada', 'admin', $1), ('viewer@example.com', 'Vic', 'attendee', $2)`, [
  await hashPassword('correct horse'),
  await hashPassword('viewer pass'),
]);

t.test('health', async (t) => {
  const r = await call('GET', '/health');
  t.same([r.status, r.body], [200, { status: 'ok', db: true, redis: true }]);
});

let admin = '';
let viewer = '';
t.test('login', async (t) => {
  const ok = await call('POST', '/auth/login', { body: { email: 'admin@example.com', password: 'correct horse' } });
  t.equal(ok.status, 200);
  t.same(ok.body.user, { id: ok.body.user.id, email: 'Admin@Example.com', name: 'Ada', role: 'admin', createdAt: ok.body.user.createdAt });
  t.notOk('passwordHash' in ok.body.user);
  admin = ok.body.token;
  viewer = (await call('POST', '/auth/login', { body: { email: 'viewer@example.com', password: 'viewer pass' } })).body.token;

  const wrong = await call('POST', '/auth/login', { body: { email: 'admin@example.com', password: 'nope' } });
  const unknown = await call('POST', '/auth/login', { body: { email: 'ghost@example.com', password: 'nope' } });
  t.equal(wrong.status, 401);
  t.match(wrong.type, /application\/problem\+json/);
  t.same([unknown.status, unknown.body.detail], [401, wrong.body.detail], 'unknown and wrong answer alike');

  const bad = await call('POST', '/auth/login', { body: { email: 5, extra: true } });
  t.equal(bad.status, 400);
  t.same(bad.body.errors.map((e: { field: string }) => e.field).sort(), ['body', 'body.email', 'body.password'].sort());
  t.equal((await call('POST', '/auth/login', { raw: '{"email":' })).status, 400, 'broken JSON');
  t.equal((await call('POST', '/auth/login', { raw: JSON.stringify({ email: 'a@b.c', password: 'x'.repeat(2_000_000) }) })).status, 413, 'too large');
});

t.test('tokens are checked: anonymous, tampered, alg none, other secret', async (t) => {
  t.equal((await call('GET', '/streams')).status, 401);
  const [h, p] = admin.split('.');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;
  t.equal((await call('GET', '/streams', { token: none })).status, 401);
  t.equal((await call('GET', '/streams', { token: `${h}.${p}.${'A'.repeat(43)}` })).status, 401);
  const other = await createTokenService({ secret: 'o'.repeat(40), expiresInSeconds: 60 }).sign({ userId: '00000000-0000-0000-0000-000000000000', deviceId: '00000000-0000-0000-0000-000000000000' });
  t.equal((await call('GET', '/streams', { token: other })).status, 401);
  t.equal((await call('POST', '/streams', { token: viewer, body: { title: 'x' } })).status, 403, 'an attendee may not create streams');
});

t.test('streams: the key is shown at creation and regeneration only, stored as a digest', async (t) => {
  const created = await call('POST', '/streams', { token: admin, body: { title: 'Keynote' } });
  t.equal(created.status, 201);
  const s = created.body;
  t.match(s.streamKey, /^[A-Za-z0-9_-]{32,}$/);
  t.equal(s.rtmpUrl, 'rtmp://in.example/live');
  t.match(s.playbackUrl, new RegExp(`^http://tv\\.example:8080/hls/${s.playbackId}/v/[A-Za-z0-9_-]{44}\\.\\d+\\.[A-Za-z0-9_-]{22}/master\\.m3u8$`), 'a staff preview URL (token of their own, never counted)');
  t.equal(s.status, 'offline');
  const row = (await pool.query('SELECT key_digest, row_to_json(streams)::text AS all_columns FROM streams WHERE id = $1', [s.id])).rows[0];
  t.same(row.key_digest, createHash('sha256').update(s.streamKey).digest(), 'only the SHA-256 digest is stored');
  t.notOk(row.all_columns.includes(s.streamKey));

  const got = await call('GET', `/streams/${s.id}`, { token: admin });
  t.equal(got.status, 200);
  t.notOk('streamKey' in got.body);
  const list = await call('GET', '/streams', { token: admin });
  t.notOk(JSON.stringify(list.body).includes(s.streamKey));

  const regen = await call('POST', `/streams/${s.id}/regenerate-key`, { token: admin });
  t.equal(regen.status, 200);
  t.not(regen.body.streamKey, s.streamKey);
  const digest = (await pool.query('SELECT key_digest FROM streams WHERE id = $1', [s.id])).rows[0].key_digest;
  t.same(digest, createHash('sha256').update(regen.body.streamKey).digest());
});

t.test('streams: refusals and validation', async (t) => {
  for (const body of [{}, { title: '' }, { title: 'x'.repeat(201) }, { title: 7 }, { title: 'ok', color: 'red' }, { title: 'ok', profile: '../x' }]) {
    const r = await call('POST', '/streams', { token: admin, body });
    t.equal(r.status, 400, JSON.stringify(body));
    t.ok(r.body.errors.length > 0);
  }
  t.equal((await call('POST', '/streams', { token: admin, body: { title: 'x', profile: 'missing' } })).status, 409);
  t.equal((await call('POST', '/streams', { token: admin, body: { title: 'x', profile: 'no-passthrough' } })).body.profile, 'no-passthrough');
  t.equal((await call('GET', '/streams/not-a-uuid', { token: admin })).status, 400);
  t.equal((await call('GET', '/streams/00000000-0000-4000-8000-000000000000', { token: admin })).status, 404);
  t.equal((await call('POST', '/streams/00000000-0000-4000-8000-000000000000/regenerate-key', { token: admin })).status, 404);
  t.equal((await call('GET', '/streams?limit=0', { token: admin })).status, 400);
  t.equal((await call('GET', '/streams?status=dancing', { token: admin })).status, 400);
  t.equal((await call('GET', '/streams?cursor=%%%', { token: admin })).status, 400);
  const missing = await call('GET', '/nope');
  t.same([missing.status, missing.body.code], [404, 'not_found']);
});

t.test('streams: cursor pagination walks every stream once', async (t) => {
  for (let i = 0; i < 5; i++) await call('POST', '/streams', { token: admin, body: { title: `page ${i}` } });
  const total = Number((await pool.query('SELECT count(*) FROM streams')).rows[0].count);
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const r: Awaited<ReturnType<typeof call>> = await call('GET', `/streams?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: admin });
    t.equal(r.status, 200);
    seen.push(...r.body.items.map((s: { id: string }) => s.id));
    cursor = r.body.nextCursor;
  } while (cursor);
  t.equal(seen.length, total);
  t.equal(new Set(seen).size, total);
});
