// User administration over REST against real Postgres and Redis: list/search/paging, get, update,
// roles (and the last-admin rule), one-time set-password tokens.
import t from 'tap';
import { encodeCursor } from '../http/schemas.js';
import { startTestApi } from '../testing/api.js';
import { userEndpoints } from './routes.js';

const api = await startTestApi(t);
const { call, pool, user } = api;

// The ADMIN_EMAIL-style first admin is the only admin at start.
const admin = await user('admin', { email: 'root@example.com', name: 'Root Admin' });

t.test('list: search, role filter, LIKE wildcards are literal', async (t) => {
  await user('speaker', { email: 'grace.hopper@navy.example', name: 'Grace Hopper' });
  await user('moderator', { email: 'mod_100%@example.com', name: 'Moe Derator' });
  const list = await call('GET', '/users', { token: admin.token });
  t.equal(list.status, 200);
  t.ok(list.body.items.every((u: { hasPassword: boolean }) => u.hasPassword === true));
  t.notOk(JSON.stringify(list.body).includes('password_hash'));

  const byName = await call('GET', '/users?q=HOPPER', { token: admin.token });
  t.same(byName.body.items.map((u: { name: string }) => u.name), ['Grace Hopper']);
  const byEmail = await call('GET', '/users?q=navy.EXAMPLE', { token: admin.token });
  t.same(byEmail.body.items.map((u: { name: string }) => u.name), ['Grace Hopper']);
  t.same((await call('GET', '/users?q=_100%25', { token: admin.token })).body.items.map((u: { name: string }) => u.name), ['Moe Derator'], 'a literal _ and %');
  t.same((await call('GET', '/users?q=%25', { token: admin.token })).body.items.map((u: { name: string }) => u.name), ['Moe Derator'], '% matches only a %');
  t.same((await call('GET', '/users?q=Grace&role=attendee', { token: admin.token })).body.items, []);
  t.equal((await call('GET', '/users?role=speaker', { token: admin.token })).body.items.length, 1);

  t.equal((await call('GET', '/users?role=king', { token: admin.token })).status, 400);
  t.equal((await call('GET', '/users?limit=101', { token: admin.token })).status, 400);
  t.equal((await call('GET', '/users?cursor=nope', { token: admin.token })).status, 400);
  t.equal((await call('GET', '/users?sort=name', { token: admin.token })).status, 400, 'unknown query fields are refused');
  t.equal((await call('GET', '/users?q=%00', { token: admin.token })).status, 400, 'NUL cannot reach Postgres');
  for (const parts of [['0000-01-01T00:00:00.000000Z', admin.id], ['2024-01-01T00:00:00.000Z', admin.id], ['2024-01-01T00:00:00.000000Z', 'x'], [1, 2]]) {
    const forged = encodeCursor(parts as string[]);
    t.equal((await call('GET', `/users?cursor=${forged}`, { token: admin.token })).status, 400, `cursor ${JSON.stringify(parts)}`);
  }
  t.equal((await call('GET', '/users')).status, 401);
  const mod = await user('moderator');
  t.equal((await call('GET', '/users', { token: mod.token })).status, 403);
});

t.test('list: paging is exact when thousands of rows share created_at', async (t) => {
  // one statement → one now() for every row
  await pool.query(`INSERT INTO users (email, name) SELECT 'tie' || i || '@page.example', 'Tie ' || i FROM generate_series(1, 1234) AS i`);
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const r: Awaited<ReturnType<typeof call>> = await call('GET', `/users?q=@page.example&limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token: admin.token });
    t.equal(r.status, 200);
    t.ok(r.body.items.every((u: { hasPassword: boolean }) => !u.hasPassword));
    seen.push(...r.body.items.map((u: { id: string }) => u.id));
    cursor = r.body.nextCursor;
    pages++;
  } while (cursor);
  t.equal(pages, 13);
  t.equal(seen.length, 1234);
  t.equal(new Set(seen).size, 1234);
  const expected = (await pool.query(`SELECT id FROM users WHERE email LIKE '%@page.example' ORDER BY created_at DESC, id DESC`)).rows.map((r) => r.id);
  t.same(seen, expected, 'newest first, id breaks ties');
});

t.test('get: admin, moderator and self; others 403; unknown 404', async (t) => {
  const a = await user('attendee', { name: 'Ann' });
  const b = await user('attendee');
  const mod = await user('moderator');
  const self = await call('GET', `/users/${a.id}`, { token: a.token });
  t.same([self.status, self.body.name, self.body.email, self.body.hasPassword], [200, 'Ann', a.email, true]);
  t.equal((await call('GET', `/users/${a.id}`, { token: admin.token })).status, 200);
  t.equal((await call('GET', `/users/${a.id}`, { token: mod.token })).status, 200);
  t.equal((await call('GET', `/users/${a.id}`, { token: b.token })).status, 403, 'an attendee may not see another user');
  t.equal((await call('GET', '/users/00000000-0000-4000-8000-000000000000', { token: admin.token })).status, 404);
  t.equal((await call('GET', '/users/not-a-uuid', { token: admin.token })).status, 400);
});

t.test('put self: name, email, password (other devices signed out)', async (t) => {
  const u = await user('attendee', { name: 'Old Name' });
  const other = await api.login(u.email, u.password);
  const r = await call('PUT', `/users/${u.id}`, { token: u.token, body: { name: '  New Name ', email: `NEW-${u.email}` } });
  t.same([r.status, r.body.name, r.body.email], [200, 'New Name', `NEW-${u.email}`]);

  const taken = await call('PUT', `/users/${u.id}`, { token: u.token, body: { email: admin.email.toUpperCase() } });
  t.same([taken.status, taken.body.code], [409, 'email_taken'], 'emails are unique in any case');
  const noCurrent = await call('PUT', `/users/${u.id}`, { token: u.token, body: { password: 'brand new secret' } });
  t.same([noCurrent.status, noCurrent.body.errors?.[0]?.field], [400, 'body.currentPassword']);
  const wrong = await call('PUT', `/users/${u.id}`, { token: u.token, body: { password: 'brand new secret', currentPassword: 'wrong one' } });
  t.same([wrong.status, wrong.body.errors?.[0]?.field], [400, 'body.currentPassword'], 'a wrong current password is a 400, not a 401');
  t.equal((await call('GET', '/auth/me', { token: other })).status, 200, 'nothing changed yet');

  const ok = await call('PUT', `/users/${u.id}`, { token: u.token, body: { password: 'brand new secret', currentPassword: u.password } });
  t.equal(ok.status, 200);
  t.equal((await call('GET', '/auth/me', { token: other })).status, 401, 'the other device is signed out');
  t.equal((await call('GET', '/auth/me', { token: u.token })).status, 200, 'this device still works');
  t.equal((await call('POST', '/auth/login', { body: { email: `new-${u.email}`, password: u.password } })).status, 401);
  t.equal((await call('POST', '/auth/login', { body: { email: `new-${u.email}`, password: 'brand new secret' } })).status, 200);

  for (const body of [{ name: '' }, { name: 'a\u0000b' }, { email: 'nope' }, { currentPassword: 'alone' }, { password: 'short', currentPassword: 'x' }, { nickname: 'x' }, { name: 5 }, { role: 'god' }]) {
    t.equal((await call('PUT', `/users/${u.id}`, { token: u.token, body })).status, 400, JSON.stringify(body));
  }
  t.equal((await call('PUT', `/users/${u.id}`, { token: u.token, raw: 'name=x', type: 'text/plain' })).status, 415);
});

t.test('put: nobody raises their own role; others are off limits to non-admins', async (t) => {
  const u = await user('speaker');
  const v = await user('attendee');
  const raise = await call('PUT', `/users/${u.id}`, { token: u.token, body: { role: 'admin' } });
  t.same([raise.status, raise.body.detail], [403, 'You cannot change your own role.']);
  t.equal((await call('PUT', `/users/${v.id}`, { token: u.token, body: { name: 'Hacked' } })).status, 403);
  const mod = await user('moderator');
  t.equal((await call('PUT', `/users/${v.id}`, { token: mod.token, body: { name: 'Hacked' } })).status, 403, 'moderators may look, not change');
  t.equal((await pool.query('SELECT role FROM users WHERE id = $1', [u.id])).rows[0].role, 'speaker');

  // an admin sets someone else's role and password in one PUT; all their devices are signed out
  const r = await call('PUT', `/users/${v.id}`, { token: admin.token, body: { role: 'speaker', password: 'set by the admin' } });
  t.same([r.status, r.body.role], [200, 'speaker']);
  t.equal((await call('GET', '/auth/me', { token: v.token })).status, 401);
  t.equal((await call('POST', '/auth/login', { body: { email: v.email, password: 'set by the admin' } })).status, 200);
});

t.test('PATCH role takes effect at once; the last admin cannot be demoted', async (t) => {
  const u = await user('attendee');
  t.equal((await call('GET', '/users', { token: u.token })).status, 403);
  const up = await call('PATCH', `/users/${u.id}/role`, { token: admin.token, body: { role: 'admin' } });
  t.same([up.status, up.body.role], [200, 'admin']);
  t.equal((await call('GET', '/users', { token: u.token })).status, 200, 'the same token now passes an admin-only route');
  const down = await call('PATCH', `/users/${u.id}/role`, { token: admin.token, body: { role: 'attendee' } });
  t.same([down.status, down.body.role], [200, 'attendee']);
  t.equal((await call('GET', '/users', { token: u.token })).status, 403, 'and fails it again at once');
  t.equal((await call('PATCH', `/users/${u.id}/role`, { token: u.token, body: { role: 'admin' } })).status, 403);

  const last = await call('PATCH', `/users/${admin.id}/role`, { token: admin.token, body: { role: 'moderator' } });
  t.same([last.status, last.body.code], [409, 'last_admin']);
  const lastPut = await call('PUT', `/users/${admin.id}`, { token: admin.token, body: { role: 'attendee' } });
  t.same([lastPut.status, lastPut.body.code], [409, 'last_admin']);

  // two demotions at once (below the HTTP role check, which could refuse the second caller first):
  // the admin rows are locked, so one of them must stay admin
  const second = await user('admin');
  const outcomes = await Promise.allSettled([
    api.deps.users.setRole({ id: second.id, role: 'attendee' }),
    api.deps.users.setRole({ id: admin.id, role: 'attendee' }),
  ]);
  t.same(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected']);
  const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
  t.equal(refused.reason.code, 'last_admin');
  t.equal(Number((await pool.query(`SELECT count(*) FROM users WHERE role = 'admin'`)).rows[0].count), 1);
  if (outcomes[1]!.status === 'fulfilled') {
    // the first admin was demoted; put things back for the next tests
    await api.deps.users.setRole({ id: admin.id, role: 'admin' });
  }

  for (const body of [{}, { role: 'owner' }, { role: 'admin', extra: 1 }]) {
    t.equal((await call('PATCH', `/users/${u.id}/role`, { token: admin.token, body })).status, 400, JSON.stringify(body));
  }
  t.equal((await call('PATCH', '/users/00000000-0000-4000-8000-000000000000/role', { token: admin.token, body: { role: 'speaker' } })).status, 404);
});

t.test('password token: set a password, sign in, the token is single-use and replaced by a new one', async (t) => {
  const { rows } = await pool.query(`INSERT INTO users (email, name) VALUES ('nopass@example.com', 'No Pass') RETURNING id`);
  const id = rows[0].id as string;
  t.equal((await call('POST', '/auth/login', { body: { email: 'nopass@example.com', password: 'anything at all' } })).status, 401);
  const first = await call('POST', `/users/${id}/password-token`, { token: admin.token });
  t.equal(first.status, 200);
  t.ok(Date.parse(first.body.expiresAt) > Date.now() + 86400_000);
  const second = await call('POST', `/users/${id}/password-token`, { token: admin.token });
  t.not(second.body.token, first.body.token);
  t.equal((await call('POST', '/auth/set-password', { body: { token: first.body.token, password: 'my own password' } })).status, 400, 'a new token replaces the old');
  t.equal((await call('POST', '/auth/set-password', { body: { token: second.body.token, password: 'my own password' } })).status, 204);
  t.equal((await call('POST', '/auth/login', { body: { email: 'nopass@example.com', password: 'my own password' } })).status, 200);
  t.equal((await call('POST', '/auth/set-password', { body: { token: second.body.token, password: 'another password' } })).status, 400, 'single use');
  t.equal((await call('GET', `/users/${id}`, { token: admin.token })).body.hasPassword, true);

  const u = await user('moderator');
  t.equal((await call('POST', `/users/${id}/password-token`, { token: u.token })).status, 403);
  t.equal((await call('POST', '/users/00000000-0000-4000-8000-000000000000/password-token', { token: admin.token })).status, 404);
});

t.test('answers match their documented schemas; the OpenAPI document lists the endpoints', async (t) => {
  const endpoints = userEndpoints({ users: api.deps.users });
  const schemaOf = (method: string, path: string) => endpoints.find((e) => e.method === method && e.path === path)!.answers[200]!.schema!;
  const u = await user('speaker');
  const answers: [string, string, Awaited<ReturnType<typeof call>>][] = [
    ['get', '/users', await call('GET', '/users?limit=3', { token: admin.token })],
    ['get', '/users/:id', await call('GET', `/users/${u.id}`, { token: u.token })],
    ['put', '/users/:id', await call('PUT', `/users/${u.id}`, { token: u.token, body: { name: 'Checked' } })],
    ['patch', '/users/:id/role', await call('PATCH', `/users/${u.id}/role`, { token: admin.token, body: { role: 'moderator' } })],
    ['post', '/users/:id/password-token', await call('POST', `/users/${u.id}/password-token`, { token: admin.token })],
    ['post', '/users/import', await call('POST', '/users/import', { token: admin.token, body: [{ email: 'doc@example.com', name: 'Doc' }, { email: 'bad' }] })],
  ];
  for (const [method, path, r] of answers) {
    t.equal(r.status, 200, `${method} ${path}`);
    const parsed = schemaOf(method, path).safeParse(r.body);
    t.ok(parsed.success, `${method} ${path} matches its schema${parsed.success ? '' : ': ' + JSON.stringify(parsed.error.issues)}`);
  }
  const doc = await call('GET', '/openapi.json');
  t.equal(doc.status, 200);
  const importOp = doc.body.paths['/api/users/import'].post;
  t.same(Object.keys(importOp.requestBody.content).sort(), ['application/json', 'text/csv']);
  for (const p of ['/api/users', '/api/users/{id}', '/api/users/{id}/role', '/api/users/{id}/password-token']) t.ok(doc.body.paths[p], p);
});
