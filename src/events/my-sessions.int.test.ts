// GET /api/me/sessions against real Postgres: the sessions a user speaks at, in events they may
// see, by start time, with their event's title, paged; nobody else's.
import t from 'tap';
import { z } from 'zod';
import { page } from '../http/schemas.js';
import { startTestApi } from '../testing/api.js';
import { sessionSchema } from './view.js';

const { call, user } = await startTestApi(t);
const [admin, spk, other, ann] = await Promise.all([user('admin'), user('speaker'), user('speaker'), user('attendee')]);

const HOUR = 3_600_000;
const base = Date.now() + 24 * HOUR;
const at = (hours: number) => new Date(base + hours * HOUR).toISOString();
const answer = page(sessionSchema.extend({ eventTitle: z.string() }).strict()).strict();

async function event(title: string, status: 'draft' | 'published') {
  const r = await call('POST', '/events', { token: admin.token, body: { title, startsAt: at(0), endsAt: at(10), status } });
  if (r.status !== 201) throw new Error(`create event → ${r.status}`);
  return r.body as { id: string };
}
async function session(eventId: string, title: string, hours: number, speakerIds: string[]) {
  const r = await call('POST', `/events/${eventId}/sessions`, { token: admin.token, body: { title, startsAt: at(hours), endsAt: at(hours + 1), speakerIds } });
  if (r.status !== 201) throw new Error(`create session → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string };
}
const mine = async (token: string, query = '') => {
  const r = await call('GET', `/me/sessions${query}`, { token });
  if (r.status !== 200) throw new Error(`GET /me/sessions${query} → ${r.status} ${JSON.stringify(r.body)}`);
  return answer.parse(r.body);
};

const conf = await event('Conf', 'published');
const summit = await event('Summit', 'published');
const draft = await event('Draft fest', 'draft');
const late = await session(conf.id, 'Late talk', 5, [spk.id]);
const early = await session(summit.id, 'Early talk', 1, [other.id, spk.id]);
await session(conf.id, 'Someone else’s', 2, [other.id]);
const hidden = await session(draft.id, 'Draft talk', 3, [spk.id]);

t.test('a speaker gets their sessions in events they may see, by start time, with the event’s title', async (t) => {
  const r = await mine(spk.token);
  t.same(r.items.map((s) => [s.title, s.eventTitle]), [['Early talk', 'Summit'], ['Late talk', 'Conf']]);
  t.same(r.items.map((s) => s.id), [early.id, late.id]);
  t.equal(r.nextCursor, null);
  t.ok(r.items.every((s) => s.speakers.some((x) => x.id === spk.id)), 'each names them as a speaker');
  t.ok(r.items.every((s) => s.streamId === null), 'no stream ids for a speaker (staff only)');
  t.match(r.items[0]!.watchUrl, new RegExp(`/watch/${early.id}$`), 'with the watch page');
});

t.test('paged like the event’s sessions', async (t) => {
  const first = await mine(spk.token, '?limit=1');
  t.same(first.items.map((s) => s.title), ['Early talk']);
  t.type(first.nextCursor, 'string');
  const second = await mine(spk.token, `?limit=1&cursor=${encodeURIComponent(first.nextCursor!)}`);
  t.same(second.items.map((s) => s.title), ['Late talk']);
  t.equal(second.nextCursor, null);
  t.equal((await call('GET', '/me/sessions?limit=0', { token: spk.token })).status, 400, 'a bad limit is refused');
  t.equal((await call('GET', '/me/sessions?cursor=nope', { token: spk.token })).status, 400, 'a forged cursor is refused');
});

t.test('a draft event’s session shows once the event is published', async (t) => {
  t.notOk((await mine(spk.token)).items.some((s) => s.id === hidden.id), 'not while a draft');
  t.equal((await call('PUT', `/events/${draft.id}`, { token: admin.token, body: { status: 'published' } })).status, 200);
  t.ok((await mine(spk.token)).items.some((s) => s.id === hidden.id), 'listed once published');
});

t.test('the speaker’s session stream says whether it is low-latency (what the encoder should send)', async (t) => {
  const ll = await call('POST', '/streams', { token: admin.token, body: { title: 'Fast hall', lowLatency: true } });
  t.equal(ll.status, 201);
  const s = await call('POST', `/events/${conf.id}/sessions`, { token: admin.token, body: { title: 'Fast talk', startsAt: at(7), endsAt: at(8), speakerIds: [spk.id], streamId: ll.body.id } });
  t.equal(s.status, 201);
  const seen = await call('GET', `/sessions/${s.body.id}/stream`, { token: spk.token });
  t.match(seen.body, { title: 'Fast hall', lowLatency: true });
  const fresh = await call('POST', `/sessions/${s.body.id}/stream/regenerate-key`, { token: spk.token });
  t.match(fresh.body, { lowLatency: true, streamKey: /^live_/ });
});

t.test('taken off a session, it is gone from the list; someone who speaks at none gets an empty list; signed out is 401', async (t) => {
  t.equal((await call('PUT', `/sessions/${late.id}`, { token: admin.token, body: { speakerIds: [] } })).status, 200);
  t.notOk((await mine(spk.token)).items.some((s) => s.id === late.id));
  t.same((await mine(ann.token)).items, []);
  t.same((await mine(admin.token)).items, [], 'staff see only the sessions they speak at too');
  t.equal((await call('GET', '/me/sessions')).status, 401);
});
