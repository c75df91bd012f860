// Joining and leaving events over REST against real Postgres and Redis, and the attendee limit
// under concurrency: 200 simultaneous joins on a limit of 50 admit exactly 50.
import pg from 'pg';
import t from 'tap';
import { createTokenService } from '../http/auth.js';
import { silentLog } from '../log.js';
import type { Bus } from '../redis/bus.js';
import { startTestApi, principalOf } from '../testing/api.js';
import { createEventsService } from './service.js';

const api = await startTestApi(t);
const { call, user, pool } = api;
const [admin, mod, alice, bob, carol, spk] = await Promise.all([user('admin'), user('moderator'), user('attendee'), user('attendee'), user('attendee'), user('speaker')]);

const HOUR = 3_600_000;
const at = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();

async function makeEvent(body: Record<string, unknown> = {}) {
  const r = await call('POST', '/events', { token: admin.token, body: { title: 'Event', startsAt: at(24), endsAt: at(26), status: 'published', ...body } });
  if (r.status !== 201) throw new Error(`create event → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; startsAt: string; endsAt: string };
}

t.test('join and leave', async (t) => {
  const e = await makeEvent({ attendeeLimit: 2 });
  t.equal((await call('POST', `/events/${e.id}/join`)).status, 401);
  const first = await call('POST', `/events/${e.id}/join`, { token: alice.token });
  t.same([first.status, first.body], [201, { joined: true, attendeeCount: 1 }]);
  const again = await call('POST', `/events/${e.id}/join`, { token: alice.token });
  t.same([again.status, again.body], [200, { joined: true, attendeeCount: 1 }], 'joining again counts nothing');
  t.equal((await call('GET', `/events/${e.id}`, { token: alice.token })).body.joined, true);
  t.equal((await call('POST', `/events/${e.id}/join`, { token: bob.token })).status, 201);
  const full = await call('POST', `/events/${e.id}/join`, { token: carol.token });
  t.same([full.status, full.body.code], [409, 'event_full']);
  t.match(full.body.detail, /full.*2 places/);
  t.equal((await call('POST', `/events/${e.id}/join`, { token: alice.token })).status, 200, 'an attendee of a full event may join again');

  t.equal((await call('DELETE', `/events/${e.id}/join`, { token: bob.token })).status, 204);
  t.equal((await call('DELETE', `/events/${e.id}/join`, { token: bob.token })).status, 204, 'leaving twice is fine');
  t.equal((await call('GET', `/events/${e.id}`, { token: alice.token })).body.attendeeCount, 1);
  t.equal((await call('POST', `/events/${e.id}/join`, { token: carol.token })).status, 201, 'the freed place is taken');

  const draft = await makeEvent({ status: 'draft' });
  t.equal((await call('POST', `/events/${draft.id}/join`, { token: alice.token })).status, 404, 'drafts do not exist for attendees');
  t.same((await call('POST', `/events/${draft.id}/join`, { token: mod.token })).body.code, 'event_not_published');
  const past = await makeEvent({ startsAt: at(-5), endsAt: at(-4) });
  const ended = await call('POST', `/events/${past.id}/join`, { token: alice.token });
  t.same([ended.status, ended.body.detail], [409, 'This event has ended.']);
  const live = await makeEvent({ startsAt: at(-1), endsAt: at(1) });
  t.equal((await call('POST', `/events/${live.id}/join`, { token: alice.token })).status, 201, 'a live event can be joined');
  const unlisted = await makeEvent({ visibility: 'unlisted' });
  t.equal((await call('POST', `/events/${unlisted.id}/join`, { token: alice.token })).status, 201);

  const priv = await makeEvent({ visibility: 'private' });
  t.equal((await call('POST', `/events/${priv.id}/join`, { token: alice.token })).status, 404, 'an invisible private event');
  t.equal((await call('POST', `/events/${priv.id}/join`, { token: mod.token })).status, 403, 'visible but private');
  await call('POST', `/events/${priv.id}/sessions`, { token: admin.token, body: { title: 'Talk', startsAt: priv.startsAt, endsAt: priv.endsAt, speakerIds: [spk.id] } });
  t.equal((await call('GET', `/events/${priv.id}`, { token: spk.token })).status, 200, 'its speaker sees it');
  t.equal((await call('POST', `/events/${priv.id}/join`, { token: spk.token })).status, 403, 'but cannot self-join');
  await call('POST', `/events/${priv.id}/attendees`, { token: admin.token, body: { userIds: [bob.id] } });
  t.equal((await call('POST', `/events/${priv.id}/join`, { token: bob.token })).status, 200, 'an added attendee is already in');
  t.equal((await call('DELETE', `/events/${priv.id}/join`, { token: carol.token })).status, 404);
  t.equal((await call('POST', '/events/00000000-0000-4000-8000-000000000000/join', { token: alice.token })).status, 404);
  t.equal((await call('POST', '/events/nope/join', { token: alice.token })).status, 400);
});

t.test('200 simultaneous joins on a limit of 50 admit exactly 50', async (t) => {
  const e = await makeEvent({ attendeeLimit: 50 });
  // 200 users with a signed-in device each, made in SQL (logging in 200 times would be slow)
  const { rows: users } = await pool.query<{ id: string }>(
    `INSERT INTO users (email, name, role) SELECT 'crowd-' || n || '-' || md5(random()::text) || '@example.com', 'Crowd ' || n, 'attendee'
     FROM generate_series(1, 200) AS n RETURNING id`,
  );
  const { rows: devices } = await pool.query<{ id: string; user_id: string }>(
    `INSERT INTO devices (user_id, expires_at) SELECT u, now() + interval '1 hour' FROM unnest($1::uuid[]) AS u RETURNING id, user_id`,
    [users.map((u) => u.id)],
  );
  const tokens = createTokenService({ secret: api.config.jwtSecret, expiresInSeconds: 3600 });
  const signed = await Promise.all(devices.map((d) => tokens.sign({ userId: d.user_id, deviceId: d.id })));
  const answers = await Promise.all(signed.map((token) => call('POST', `/events/${e.id}/join`, { token })));
  const statuses = answers.map((a) => a.status);
  t.equal(statuses.filter((s) => s === 201).length, 50, 'exactly 50 admitted');
  t.equal(statuses.filter((s) => s === 409).length, 150, 'the rest refused');
  t.ok(answers.filter((a) => a.status === 409).every((a) => a.body.code === 'event_full'));
  const row = (await pool.query('SELECT attendee_count, (SELECT count(*)::int FROM event_attendees WHERE event_id = $1) AS rows FROM events WHERE id = $1', [e.id])).rows[0];
  t.same(row, { attendee_count: 50, rows: 50 });
});

t.test('the limit holds with 100 joins truly at once (60 database connections)', async (t) => {
  // The API's test pool has 5 connections; here the service runs on a pool wide enough that the
  // joins really race in Postgres.
  const wide = new pg.Pool({ connectionString: api.config.databaseUrl!, max: 60 });
  t.teardown(() => wide.end());
  const events = createEventsService({ db: wide, bus: undefined as unknown as Bus /* events publish nothing */, log: silentLog(), config: api.config, rateLimits: api.deps.moderation });
  const e = await makeEvent({ attendeeLimit: 7 });
  const { rows: users } = await pool.query<{ id: string }>(
    `INSERT INTO users (email, name) SELECT 'race-' || n || '-' || md5(random()::text) || '@example.com', 'Race ' || n FROM generate_series(1, 100) AS n RETURNING id`,
  );
  const results = await Promise.allSettled(users.map((u) => events.join(principalOf({ id: u.id, role: 'attendee' }), e.id)));
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 7);
  t.ok(results.every((r) => r.status === 'fulfilled' || (r.reason as { code?: string }).code === 'event_full'), 'every refusal is event_full');
  const row = (await pool.query('SELECT attendee_count, (SELECT count(*)::int FROM event_attendees WHERE event_id = $1) AS rows FROM events WHERE id = $1', [e.id])).rows[0];
  t.same(row, { attendee_count: 7, rows: 7 });
});
