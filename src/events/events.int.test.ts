// Events over REST against real Postgres and Redis: create/read/update/delete and their refusals,
// who sees what (drafts, private, unlisted), phase filters and cursors, attendee lists, bulk
// adds and removing one attendee. Joining, leaving and the limit under concurrency are in join.int.test.ts.
import t from 'tap';
import { page } from '../http/schemas.js';
import { startTestApi } from '../testing/api.js';
import { attendeeSchema, eventSchema } from './view.js';

const api = await startTestApi(t);
const { call, user, pool } = api;
const [admin, mod, alice, bob, carol, spk] = await Promise.all([user('admin'), user('moderator'), user('attendee'), user('attendee'), user('attendee'), user('speaker')]);

const HOUR = 3_600_000;
const at = (hours: number) => new Date(Date.now() + hours * HOUR).toISOString();

async function makeEvent(body: Record<string, unknown> = {}) {
  const r = await call('POST', '/events', { token: admin.token, body: { title: 'Event', startsAt: at(24), endsAt: at(26), status: 'published', ...body } });
  if (r.status !== 201) throw new Error(`create event → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; [k: string]: unknown };
}
const fields = (r: { body: { errors?: { field: string }[] } }) => (r.body.errors ?? []).map((e) => e.field);

t.test('create: defaults, branding, and the answer matches its schema', async (t) => {
  const r = await call('POST', '/events', { token: admin.token, body: { title: '  Launch  ', startsAt: at(48), endsAt: at(50) } });
  t.equal(r.status, 201);
  eventSchema.strict().parse(r.body);
  t.match(r.body, { title: 'Launch', description: '', timezone: 'UTC', status: 'draft', visibility: 'public', phase: 'upcoming', attendeeLimit: null, attendeeCount: 0, joined: false });
  t.same(r.body.branding, { primaryColor: null, secondaryColor: null, logoUrl: null, bannerUrl: null });

  const full = await call('POST', '/events', {
    token: admin.token,
    body: {
      title: 'Summit', description: 'Two days', startsAt: '2031-05-01T09:00:00+02:00', endsAt: '2031-05-02T18:00:00+02:00', timezone: 'Europe/Berlin',
      status: 'published', visibility: 'unlisted', attendeeLimit: 300,
      branding: { primaryColor: '#112233', secondaryColor: '#aabbcc', logoUrl: 'https://cdn.example/logo.png', bannerUrl: 'http://cdn.example/b.jpg' },
    },
  });
  t.equal(full.status, 201);
  t.match(full.body, { startsAt: '2031-05-01T07:00:00.000Z', timezone: 'Europe/Berlin', visibility: 'unlisted', attendeeLimit: 300 });
  t.same(full.body.branding, { primaryColor: '#112233', secondaryColor: '#aabbcc', logoUrl: 'https://cdn.example/logo.png', bannerUrl: 'http://cdn.example/b.jpg' });
});

t.test('create: refusals', async (t) => {
  const ok = { title: 'x', startsAt: at(1), endsAt: at(2) };
  t.equal((await call('POST', '/events', { body: ok })).status, 401);
  t.equal((await call('POST', '/events', { token: alice.token, body: ok })).status, 403);
  t.equal((await call('POST', '/events', { token: mod.token, body: ok })).status, 403);
  const bad: [Record<string, unknown>, string][] = [
    [{}, 'body.title'],
    [{ ...ok, endsAt: ok.startsAt }, 'body.endsAt'],
    [{ ...ok, startsAt: at(3) }, 'body.endsAt'],
    [{ ...ok, startsAt: 'tomorrow' }, 'body.startsAt'],
    [{ ...ok, startsAt: '0000-01-01T00:00:00Z' }, 'body.startsAt'],
    [{ ...ok, startsAt: 5 }, 'body.startsAt'],
    [{ ...ok, timezone: 'Mars/Olympus' }, 'body.timezone'],
    [{ ...ok, timezone: '' }, 'body.timezone'],
    [{ ...ok, status: 'archived' }, 'body.status'],
    [{ ...ok, visibility: 'secret' }, 'body.visibility'],
    [{ ...ok, attendeeLimit: 0 }, 'body.attendeeLimit'],
    [{ ...ok, attendeeLimit: 2.5 }, 'body.attendeeLimit'],
    [{ ...ok, attendeeLimit: '50' }, 'body.attendeeLimit'],
    [{ ...ok, attendeeLimit: 1e12 }, 'body.attendeeLimit'],
    [{ ...ok, title: 'x'.repeat(201) }, 'body.title'],
    [{ ...ok, description: 'x'.repeat(10_001) }, 'body.description'],
    [{ ...ok, branding: { primaryColor: 'red' } }, 'body.branding.primaryColor'],
    [{ ...ok, branding: { logoUrl: 'javascript:alert(1)' } }, 'body.branding.logoUrl'],
    [{ ...ok, branding: { bannerUrl: `https://x.example/${'a'.repeat(2048)}` } }, 'body.branding.bannerUrl'],
    [{ ...ok, branding: { font: 'Comic Sans' } }, 'body.branding'],
    [{ ...ok, branding: 'blue' }, 'body.branding'],
    [{ ...ok, organiser: 'me' }, 'body'],
  ];
  for (const [body, field] of bad) {
    const r = await call('POST', '/events', { token: admin.token, body });
    t.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    t.ok(fields(r).includes(field), `${field} named: ${JSON.stringify(r.body.errors)}`);
  }
  t.equal((await call('POST', '/events', { token: admin.token, body: [] })).status, 400, 'an array');
  t.equal((await call('POST', '/events', { token: admin.token, raw: 'null' })).status, 400, 'null');
  t.equal((await call('POST', '/events', { token: admin.token, raw: 'title=x', type: 'text/plain' })).status, 415);
});

t.test('get and visibility: drafts for staff, private for its people, unlisted by id only', async (t) => {
  const draft = await makeEvent({ title: 'Draft', status: 'draft' });
  const priv = await makeEvent({ title: 'Private', visibility: 'private' });
  const unlisted = await makeEvent({ title: 'Unlisted', visibility: 'unlisted' });
  const pub = await makeEvent({ title: 'Public' });

  t.equal((await call('GET', `/events/${draft.id}`)).status, 401);
  t.equal((await call('GET', `/events/${draft.id}`, { token: alice.token })).status, 404, 'draft hidden from an attendee');
  t.equal((await call('GET', `/events/${draft.id}`, { token: spk.token })).status, 404, 'draft hidden from a speaker');
  t.equal((await call('GET', `/events/${draft.id}`, { token: mod.token })).status, 200, 'moderators see drafts');
  t.equal((await call('GET', `/events/${draft.id}`, { token: admin.token })).body.status, 'draft');
  t.equal((await call('GET', `/events/${priv.id}`, { token: alice.token })).status, 404, 'private hidden from a non-attendee');
  t.equal((await call('GET', `/events/${priv.id}`, { token: mod.token })).status, 200);
  const got = await call('GET', `/events/${unlisted.id}`, { token: alice.token });
  t.equal(got.status, 200, 'unlisted is gettable by id');
  eventSchema.strict().parse(got.body);
  t.equal((await call('GET', '/events/not-a-uuid', { token: alice.token })).status, 400);
  t.equal((await call('GET', '/events/00000000-0000-4000-8000-000000000000', { token: admin.token })).status, 404);

  const listed = async (token: string) => {
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const r: Awaited<ReturnType<typeof call>> = await call('GET', `/events?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token });
      ids.push(...r.body.items.map((e: { id: string }) => e.id));
      cursor = r.body.nextCursor;
    } while (cursor);
    return ids;
  };
  const forAlice = await listed(alice.token);
  t.ok(forAlice.includes(pub.id));
  t.notOk(forAlice.includes(draft.id), 'no draft listed');
  t.notOk(forAlice.includes(priv.id), 'no private event listed');
  t.notOk(forAlice.includes(unlisted.id), 'no unlisted event listed');
  const forMod = await listed(mod.token);
  t.ok([draft.id, priv.id, unlisted.id, pub.id].every((id) => forMod.includes(id)), 'staff list everything');

  const added = await call('POST', `/events/${priv.id}/attendees`, { token: admin.token, body: { userIds: [alice.id] } });
  t.same(added.body, { added: 1, alreadyAttending: 0, attendeeCount: 1 });
  const now = await call('GET', `/events/${priv.id}`, { token: alice.token });
  t.equal(now.status, 200, 'an added attendee sees the private event');
  t.match(now.body, { joined: true, attendeeCount: 1 });
  t.ok((await listed(alice.token)).includes(priv.id), 'the private event is listed for its attendee');
  t.equal((await call('GET', `/events/${priv.id}`, { token: bob.token })).status, 404, 'still hidden from others');
});

t.test('update: the fields given, the merged result checked', async (t) => {
  const e = await makeEvent({ title: 'Before', attendeeLimit: 10, branding: { primaryColor: '#000000' } });
  const r = await call('PUT', `/events/${e.id}`, { token: admin.token, body: { title: 'After', description: 'new' } });
  t.equal(r.status, 200);
  eventSchema.strict().parse(r.body);
  t.match(r.body, { title: 'After', description: 'new', attendeeLimit: 10, startsAt: e.startsAt, status: 'published' });
  t.equal(r.body.branding.primaryColor, '#000000', 'untouched fields keep their values');
  t.not(r.body.updatedAt, e.updatedAt);

  const later = await call('PUT', `/events/${e.id}`, { token: admin.token, body: { startsAt: at(30) } });
  t.same([later.status, fields(later)], [400, ['body.startsAt']], 'a start after the stored end');
  t.same(fields(await call('PUT', `/events/${e.id}`, { token: admin.token, body: { startsAt: at(30), endsAt: at(29) } })), ['body.endsAt']);
  t.equal((await call('PUT', `/events/${e.id}`, { token: admin.token, body: {} })).status, 400, 'nothing to change');
  t.equal((await call('PUT', `/events/${e.id}`, { token: admin.token, body: { attendeeCount: 5 } })).status, 400, 'not a field');
  t.equal((await call('PUT', `/events/${e.id}`, { token: admin.token, body: { timezone: 'Nowhere/City' } })).status, 400);
  const cleared = await call('PUT', `/events/${e.id}`, { token: admin.token, body: { attendeeLimit: null, branding: {} } });
  t.match(cleared.body, { attendeeLimit: null, branding: { primaryColor: null } });

  for (const u of [alice, bob, carol]) t.equal((await call('POST', `/events/${e.id}/join`, { token: u.token })).status, 201);
  const lower = await call('PUT', `/events/${e.id}`, { token: admin.token, body: { attendeeLimit: 2 } });
  t.same([lower.status, lower.body.code], [409, 'attendee_limit_below_count']);
  t.match(lower.body.detail, /3 people already attend/);
  t.equal((await call('PUT', `/events/${e.id}`, { token: admin.token, body: { attendeeLimit: 3 } })).body.attendeeLimit, 3, 'equal to the count is fine');

  const s = await call('POST', `/events/${e.id}/sessions`, { token: admin.token, body: { title: 'Opening talk', startsAt: e.startsAt, endsAt: at(25) } });
  t.equal(s.status, 201);
  const moved = await call('PUT', `/events/${e.id}`, { token: admin.token, body: { startsAt: at(24.5) } });
  t.same([moved.status, moved.body.code], [409, 'session_outside_event']);
  t.match(moved.body.detail, /Opening talk/);
  t.equal((await call('PUT', `/events/${e.id}`, { token: admin.token, body: { endsAt: at(40) } })).status, 200, 'widening is fine');

  t.equal((await call('PUT', `/events/${e.id}`, { token: mod.token, body: { title: 'x' } })).status, 403);
  t.equal((await call('PUT', `/events/${e.id}`, { body: { title: 'x' } })).status, 401);
  t.equal((await call('PUT', '/events/00000000-0000-4000-8000-000000000000', { token: admin.token, body: { title: 'x' } })).status, 404);
});

t.test('delete', async (t) => {
  const e = await makeEvent();
  await call('POST', `/events/${e.id}/join`, { token: alice.token });
  t.equal((await call('DELETE', `/events/${e.id}`, { token: alice.token })).status, 403);
  t.equal((await call('DELETE', `/events/${e.id}`, { token: mod.token })).status, 403);
  t.equal((await call('DELETE', `/events/${e.id}`, { token: admin.token })).status, 204);
  t.equal((await call('DELETE', `/events/${e.id}`, { token: admin.token })).status, 404);
  t.equal((await call('GET', `/events/${e.id}`, { token: admin.token })).status, 404);
  t.equal(Number((await pool.query('SELECT count(*) FROM event_attendees WHERE event_id = $1', [e.id])).rows[0].count), 0);
});

t.test('phases and cursor pagination walk every event once, in order', async (t) => {
  await makeEvent({ title: 'Past A', startsAt: at(-50), endsAt: at(-48) });
  await makeEvent({ title: 'Past B', startsAt: at(-30), endsAt: at(-29) });
  await makeEvent({ title: 'Live', startsAt: at(-1), endsAt: at(1) });
  await makeEvent({ title: 'Soon', startsAt: at(5), endsAt: at(6) });
  const all = Number((await pool.query('SELECT count(*) FROM events')).rows[0].count);
  const walk = async (filter: string) => {
    const items: { id: string; phase: string; startsAt: string; endsAt: string }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: Awaited<ReturnType<typeof call>> = await call('GET', `/events?limit=2${filter}${cursor ? `&cursor=${cursor}` : ''}`, { token: admin.token });
      t.equal(r.status, 200);
      page(eventSchema.strict()).parse(r.body);
      items.push(...r.body.items);
      cursor = r.body.nextCursor;
      pages++;
    } while (cursor && pages < 100);
    return items;
  };
  const every = await walk('');
  t.equal(every.length, all);
  t.equal(new Set(every.map((e) => e.id)).size, all, 'no event twice');
  t.ok(every.every((e, i) => i === 0 || every[i - 1]!.startsAt <= e.startsAt), 'by start, earliest first');

  const counts: Record<string, number> = {};
  for (const phase of ['upcoming', 'live', 'past']) {
    const items = await walk(`&phase=${phase}`);
    counts[phase] = items.length;
    t.ok(items.length > 0 && items.every((e) => e.phase === phase), `${phase} answers ${phase} events only`);
    t.equal(new Set(items.map((e) => e.id)).size, items.length);
    if (phase === 'past') t.ok(items.every((e, i) => i === 0 || items[i - 1]!.endsAt >= e.endsAt), 'past by end, latest first');
    else t.ok(items.every((e, i) => i === 0 || items[i - 1]!.startsAt <= e.startsAt));
  }
  t.equal(counts.upcoming! + counts.live! + counts.past!, all, 'the phases split the events');

  const first = await call('GET', '/events?limit=1&phase=past', { token: admin.token });
  t.equal((await call('GET', `/events?phase=upcoming&cursor=${first.body.nextCursor}`, { token: admin.token })).status, 400, 'a cursor of another order');
  for (const q of ['phase=soon', 'limit=0', 'limit=101', 'limit=x', 'cursor=%%%', 'cursor=WzFd', 'sort=title']) {
    t.equal((await call('GET', `/events?${q}`, { token: alice.token })).status, 400, q);
  }
  t.equal((await call('GET', '/events')).status, 401);
});

t.test('attendee list: staff and the event’s speakers', async (t) => {
  const e = await makeEvent();
  const other = await makeEvent();
  await call('POST', `/events/${e.id}/sessions`, { token: admin.token, body: { title: 'Talk', startsAt: e.startsAt, endsAt: e.endsAt, speakerIds: [spk.id] } });
  for (const u of [alice, bob, carol]) await call('POST', `/events/${e.id}/join`, { token: u.token });
  const r = await call('GET', `/events/${e.id}/attendees?limit=2`, { token: admin.token });
  t.equal(r.status, 200);
  page(attendeeSchema.strict()).parse(r.body);
  t.same(r.body.items[0].user, { id: alice.id, name: r.body.items[0].user.name, email: alice.email });
  const rest = await call('GET', `/events/${e.id}/attendees?limit=2&cursor=${r.body.nextCursor}`, { token: admin.token });
  t.same([...r.body.items, ...rest.body.items].map((a: { user: { id: string } }) => a.user.id), [alice.id, bob.id, carol.id]);
  t.equal(rest.body.nextCursor, null);
  t.equal((await call('GET', `/events/${e.id}/attendees`, { token: mod.token })).status, 200);
  t.equal((await call('GET', `/events/${e.id}/attendees`, { token: spk.token })).status, 200, 'a speaker of the event');
  t.equal((await call('GET', `/events/${other.id}/attendees`, { token: spk.token })).status, 403, 'not a speaker of that one');
  t.equal((await call('GET', `/events/${e.id}/attendees`, { token: alice.token })).status, 403);
  t.equal((await call('GET', `/events/${e.id}/attendees`)).status, 401);
  t.equal((await call('GET', '/events/00000000-0000-4000-8000-000000000000/attendees', { token: admin.token })).status, 404);
  t.equal((await call('GET', `/events/${e.id}/attendees?cursor=abc`, { token: admin.token })).status, 400);
});

t.test('adding attendees: all or nothing, the limit applies', async (t) => {
  const e = await makeEvent({ visibility: 'private', attendeeLimit: 3 });
  const r = await call('POST', `/events/${e.id}/attendees`, { token: admin.token, body: { userIds: [alice.id, bob.id, alice.id] } });
  t.same([r.status, r.body], [200, { added: 2, alreadyAttending: 0, attendeeCount: 2 }]);
  const again = await call('POST', `/events/${e.id}/attendees`, { token: admin.token, body: { userIds: [bob.id] } });
  t.same(again.body, { added: 0, alreadyAttending: 1, attendeeCount: 2 });
  const over = await call('POST', `/events/${e.id}/attendees`, { token: admin.token, body: { userIds: [carol.id, spk.id] } });
  t.same([over.status, over.body.code], [409, 'event_full']);
  t.match(over.body.detail, /nobody was added/);
  t.equal(Number((await pool.query('SELECT count(*) FROM event_attendees WHERE event_id = $1', [e.id])).rows[0].count), 2);
  const ghost = '00000000-0000-4000-8000-00000000abcd';
  const unknown = await call('POST', `/events/${e.id}/attendees`, { token: admin.token, body: { userIds: [carol.id, ghost] } });
  t.same([unknown.status, fields(unknown)], [400, ['body.userIds']]);
  t.match(unknown.body.errors[0].message, ghost);
  t.equal((await call('GET', `/events/${e.id}`, { token: carol.token })).status, 404, 'nothing was added');
  for (const body of [{}, { userIds: [] }, { userIds: ['x'] }, { userIds: Array(1001).fill(alice.id) }, { userIds: [alice.id], note: 'hi' }]) {
    t.equal((await call('POST', `/events/${e.id}/attendees`, { token: admin.token, body })).status, 400, JSON.stringify(body).slice(0, 60));
  }
  t.equal((await call('POST', `/events/${e.id}/attendees`, { token: mod.token, body: { userIds: [carol.id] } })).status, 403);
  t.equal((await call('POST', '/events/00000000-0000-4000-8000-000000000000/attendees', { token: admin.token, body: { userIds: [carol.id] } })).status, 404);
});

t.test('removing an attendee: 204, then 404; admin only; the count and the private event follow', async (t) => {
  const e = await makeEvent({ visibility: 'private' });
  t.equal((await call('POST', `/events/${e.id}/attendees`, { token: admin.token, body: { userIds: [alice.id, bob.id] } })).status, 200);
  t.equal((await call('GET', `/events/${e.id}`, { token: alice.token })).status, 200, 'alice sees it while she attends');
  for (const who of [mod, bob, spk]) t.equal((await call('DELETE', `/events/${e.id}/attendees/${alice.id}`, { token: who.token })).status, 403, 'only an admin');
  t.equal((await call('DELETE', `/events/${e.id}/attendees/${alice.id}`)).status, 401);
  const r = await call('DELETE', `/events/${e.id}/attendees/${alice.id}`, { token: admin.token });
  t.same([r.status, r.body], [204, null]);
  t.equal((await call('GET', `/events/${e.id}`, { token: alice.token })).status, 404, 'a private event is hidden from her again');
  const seen = await call('GET', `/events/${e.id}`, { token: admin.token });
  t.equal(seen.body.attendeeCount, 1, 'counted out');
  t.same((await call('GET', `/events/${e.id}/attendees`, { token: admin.token })).body.items.map((a: { user: { id: string } }) => a.user.id), [bob.id]);
  const again = await call('DELETE', `/events/${e.id}/attendees/${alice.id}`, { token: admin.token });
  t.same([again.status, again.body.code, again.body.detail], [404, 'not_found', 'The attendee was not found.'], 'not an attendee (any more)');
  t.equal((await call('DELETE', `/events/${e.id}/attendees/00000000-0000-4000-8000-00000000abcd`, { token: admin.token })).status, 404, 'no such user');
  const noEvent = await call('DELETE', `/events/00000000-0000-4000-8000-000000000000/attendees/${bob.id}`, { token: admin.token });
  t.same([noEvent.status, noEvent.body.detail], [404, 'The event was not found.']);
  const bad = await call('DELETE', `/events/${e.id}/attendees/x`, { token: admin.token });
  t.same([bad.status, bad.body.errors.map((f: { field: string }) => f.field)], [400, ['params.userId']]);
  t.equal((await call('POST', `/events/${e.id}/attendees`, { token: admin.token, body: { userIds: [alice.id] } })).body.attendeeCount, 2, 'can be added again');
});
