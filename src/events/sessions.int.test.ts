// Event sessions over REST against real Postgres and Redis: create/read/update/delete with their
// refusals (times inside the event, speakers and streams that exist, one session per stream at a
// time), the watch rule for playbackUrl, and the stream → sessions link.
import t from 'tap';
import { checkPlaybackToken } from '../analytics/playback.js';
import { page } from '../http/schemas.js';
import { startTestApi } from '../testing/api.js';
import { sessionSchema } from './view.js';

const { call, user, pool, config } = await startTestApi(t);

/** Whether the URL is this user's own playback URL of the stream for the session (a signed token nginx checks). */
function ticketOf(url: string | null, stream: { playbackId: string }, sessionId: string, userId: string): boolean {
  const m = url?.match(/^http:\/\/tv\.example:8080\/hls\/([^/]+)\/v\/([^/]+)\/master\.m3u8$/);
  if (!m || m[1] !== stream.playbackId) return false;
  const who = checkPlaybackToken(config.playbackSecret, stream.playbackId, m[2]!);
  return typeof who === 'object' && who.sessionId === sessionId && who.userId === userId;
}
const [admin, mod, alice, bob, spk, spk2] = await Promise.all([user('admin'), user('moderator'), user('attendee'), user('attendee'), user('speaker'), user('speaker')]);

const HOUR = 3_600_000;
const base = Date.now() + 48 * HOUR;
const at = (hours: number) => new Date(base + hours * HOUR).toISOString();
const fields = (r: { body: { errors?: { field: string }[] } }) => (r.body.errors ?? []).map((e) => e.field);

async function makeEvent(body: Record<string, unknown> = {}) {
  const r = await call('POST', '/events', { token: admin.token, body: { title: 'Conf', startsAt: at(0), endsAt: at(8), status: 'published', ...body } });
  if (r.status !== 201) throw new Error(`create event → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { id: string; startsAt: string; endsAt: string };
}
async function makeStream(title = 'Main hall') {
  const r = await call('POST', '/streams', { token: admin.token, body: { title } });
  if (r.status !== 201) throw new Error(`create stream → ${r.status}`);
  return r.body as { id: string; playbackId: string; playbackUrl: string; streamKey: string };
}
async function makeSession(eventId: string, body: Record<string, unknown>) {
  const r = await call('POST', `/events/${eventId}/sessions`, { token: admin.token, body: { title: 'Talk', startsAt: at(1), endsAt: at(2), ...body } });
  if (r.status !== 201) throw new Error(`create session → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

t.test('create a session with speakers and a stream', async (t) => {
  const e = await makeEvent();
  const stream = await makeStream();
  const r = await call('POST', `/events/${e.id}/sessions`, {
    token: admin.token,
    body: { title: 'Keynote', description: 'Opening', startsAt: at(0), endsAt: at(1), speakerIds: [spk2.id, spk.id, spk2.id], streamId: stream.id },
  });
  t.equal(r.status, 201);
  sessionSchema.strict().parse(r.body);
  t.match(r.body, { eventId: e.id, title: 'Keynote', description: 'Opening', startsAt: e.startsAt, streamId: stream.id, streamStatus: 'offline', live: false });
  t.same(r.body.speakers.map((s: { id: string }) => s.id), [spk2.id, spk.id], 'in the order given, once each');
  t.ok(ticketOf(r.body.playbackUrl, stream, r.body.id, admin.id), 'staff may watch, with a URL of their own');
  t.same(r.body.watch, { allowed: true, reason: null });
  t.notOk(JSON.stringify(r.body).includes(stream.streamKey), 'no stream key');
});

t.test('create: refusals', async (t) => {
  const e = await makeEvent();
  const stream = await makeStream();
  await makeSession(e.id, { title: 'Booked', startsAt: at(2), endsAt: at(4), streamId: stream.id });
  const ok = { title: 'x', startsAt: at(1), endsAt: at(2) };
  const ghost = '00000000-0000-4000-8000-00000000beef';
  const bad: [Record<string, unknown>, string][] = [
    [{}, 'body.title'],
    [{ ...ok, endsAt: ok.startsAt }, 'body.endsAt'],
    [{ ...ok, startsAt: at(-1) }, 'body.startsAt'],
    [{ ...ok, endsAt: at(9) }, 'body.endsAt'],
    [{ ...ok, speakerIds: [ghost] }, 'body.speakerIds'],
    [{ ...ok, speakerIds: ['nope'] }, 'body.speakerIds.0'],
    [{ ...ok, speakerIds: Array(21).fill(spk.id) }, 'body.speakerIds'],
    [{ ...ok, streamId: ghost }, 'body.streamId'],
    [{ ...ok, streamId: 7 }, 'body.streamId'],
    [{ ...ok, room: 'A' }, 'body'],
  ];
  for (const [body, field] of bad) {
    const r = await call('POST', `/events/${e.id}/sessions`, { token: admin.token, body });
    t.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    t.ok(fields(r).includes(field), `${field}: ${JSON.stringify(r.body.errors)}`);
  }
  const missing = await call('POST', `/events/${e.id}/sessions`, { token: admin.token, body: { ...ok, speakerIds: [spk.id, ghost] } });
  t.match(missing.body.errors[0].message, ghost, 'the missing speaker is named');

  const overlap = await call('POST', `/events/${e.id}/sessions`, { token: admin.token, body: { title: 'Clash', startsAt: at(3), endsAt: at(5), streamId: stream.id } });
  t.same([overlap.status, overlap.body.code], [409, 'stream_in_use']);
  t.match(overlap.body.detail, /Booked/);
  const other = await makeEvent({ title: 'Other' });
  t.equal((await call('POST', `/events/${other.id}/sessions`, { token: admin.token, body: { title: 'Clash', startsAt: at(3), endsAt: at(5), streamId: stream.id } })).status, 409, 'also across events');
  t.equal((await call('POST', `/events/${e.id}/sessions`, { token: admin.token, body: { title: 'Next', startsAt: at(4), endsAt: at(5), streamId: stream.id } })).status, 201, 'back to back is fine');

  t.equal((await call('POST', `/events/${e.id}/sessions`, { token: mod.token, body: ok })).status, 403);
  t.equal((await call('POST', `/events/${e.id}/sessions`, { token: alice.token, body: ok })).status, 403);
  t.equal((await call('POST', `/events/${e.id}/sessions`, { body: ok })).status, 401);
  t.equal((await call('POST', `/events/${ghost}/sessions`, { token: admin.token, body: ok })).status, 404);
});

t.test('playbackUrl: joining is the ticket', async (t) => {
  const e = await makeEvent();
  const stream = await makeStream();
  const s = await makeSession(e.id, { streamId: stream.id, speakerIds: [spk.id] });
  const plain = await makeSession(e.id, { title: 'No stream', startsAt: at(3), endsAt: at(4) });

  const before = await call('GET', `/sessions/${s.id}`, { token: alice.token });
  t.equal(before.status, 200);
  sessionSchema.strict().parse(before.body);
  t.match(before.body, { playbackUrl: null, streamId: null, streamStatus: 'offline', watch: { allowed: false, reason: 'Join the event to watch.' } });
  t.match(before.body.watchUrl, new RegExp(`^https?://[^/]+/watch/${s.id}$`), 'the watch page is given to everyone who may see the session (it asks them to join)');
  t.equal((await call('POST', `/events/${e.id}/join`, { token: alice.token })).status, 201);
  const after = await call('GET', `/sessions/${s.id}`, { token: alice.token });
  t.match(after.body, { streamId: null, watch: { allowed: true } }, 'a joined attendee may watch; the stream id stays staff-only');
  t.ok(ticketOf(after.body.playbackUrl, stream, s.id, alice.id), 'with a URL of their own');
  t.ok(ticketOf((await call('GET', `/sessions/${s.id}`, { token: spk.token })).body.playbackUrl, stream, s.id, spk.id), 'its speaker may watch');
  t.equal((await call('GET', `/sessions/${s.id}`, { token: spk2.token })).body.playbackUrl, null, 'another speaker may not');
  const staff = await call('GET', `/sessions/${s.id}`, { token: mod.token });
  t.match(staff.body, { streamId: stream.id });
  t.ok(ticketOf(staff.body.playbackUrl, stream, s.id, mod.id));
  t.match((await call('GET', `/sessions/${plain.id}`, { token: alice.token })).body, { playbackUrl: null, streamStatus: null, live: false, watch: { allowed: false } });

  await pool.query(`UPDATE streams SET status = 'live' WHERE id = $1`, [stream.id]);
  const live = (await call('GET', `/sessions/${s.id}`, { token: alice.token })).body;
  t.match(live, { live: true, streamStatus: 'live' });
  t.ok(ticketOf(live.playbackUrl, stream, s.id, alice.id));
  await call('DELETE', `/events/${e.id}/join`, { token: alice.token });
  t.equal((await call('GET', `/sessions/${s.id}`, { token: alice.token })).body.playbackUrl, null, 'leaving gives the ticket back');

  const list = await call('GET', `/events/${e.id}/sessions`, { token: bob.token });
  t.equal(list.status, 200);
  page(sessionSchema.strict()).parse(list.body);
  t.same(list.body.items.map((x: { id: string }) => x.id), [s.id, plain.id], 'by start time');
  t.ok(list.body.items.every((x: { playbackUrl: string | null }) => x.playbackUrl === null));
  t.notOk(JSON.stringify(list.body).includes(stream.streamKey));
});

t.test('private events: sessions and their playback URL hidden from non-attendees', async (t) => {
  const e = await makeEvent({ visibility: 'private' });
  const stream = await makeStream();
  const s = await makeSession(e.id, { streamId: stream.id });
  t.equal((await call('GET', `/sessions/${s.id}`, { token: alice.token })).status, 404);
  t.equal((await call('GET', `/events/${e.id}/sessions`, { token: alice.token })).status, 404);
  t.notOk(JSON.stringify((await call('GET', '/events', { token: alice.token })).body).includes(e.id));
  await call('POST', `/events/${e.id}/attendees`, { token: admin.token, body: { userIds: [alice.id] } });
  t.ok(ticketOf((await call('GET', `/sessions/${s.id}`, { token: alice.token })).body.playbackUrl, stream, s.id, alice.id), 'an added attendee may watch');
  t.equal((await call('GET', `/sessions/${s.id}`, { token: bob.token })).status, 404);

  const draft = await makeEvent({ status: 'draft' });
  const d = await makeSession(draft.id, {});
  t.equal((await call('GET', `/sessions/${d.id}`, { token: alice.token })).status, 404, 'a draft’s sessions are hidden');
  t.equal((await call('GET', `/sessions/${d.id}`, { token: mod.token })).status, 200);
});

t.test('list sessions: pagination and refusals', async (t) => {
  const e = await makeEvent();
  for (let i = 0; i < 5; i++) await makeSession(e.id, { title: `S${i}`, startsAt: at(i), endsAt: at(i + 1) });
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const r: Awaited<ReturnType<typeof call>> = await call('GET', `/events/${e.id}/sessions?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: alice.token });
    t.equal(r.status, 200);
    seen.push(...r.body.items.map((s: { title: string }) => s.title));
    cursor = r.body.nextCursor;
  } while (cursor);
  t.same(seen, ['S0', 'S1', 'S2', 'S3', 'S4']);
  t.equal((await call('GET', `/events/${e.id}/sessions?limit=500`, { token: alice.token })).status, 400);
  t.equal((await call('GET', `/events/${e.id}/sessions?cursor=zzz`, { token: alice.token })).status, 400);
  t.equal((await call('GET', `/events/${e.id}/sessions`)).status, 401);
  t.equal((await call('GET', '/events/00000000-0000-4000-8000-000000000000/sessions', { token: alice.token })).status, 404);
});

t.test('update and delete a session', async (t) => {
  const e = await makeEvent();
  const stream = await makeStream();
  const other = await makeSession(e.id, { title: 'Other', startsAt: at(4), endsAt: at(5), streamId: stream.id });
  const s = await makeSession(e.id, { title: 'Mine', speakerIds: [spk.id] });

  const r = await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: { title: 'Renamed' } });
  t.equal(r.status, 200);
  sessionSchema.strict().parse(r.body);
  t.match(r.body, { title: 'Renamed', startsAt: at(1), streamId: null });
  t.same(r.body.speakers.map((x: { id: string }) => x.id), [spk.id], 'speakers kept when not given');
  const speakers = await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: { speakerIds: [spk2.id] } });
  t.same(speakers.body.speakers.map((x: { id: string }) => x.id), [spk2.id], 'speakerIds replaces the list');
  t.equal((await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: { speakerIds: [] } })).body.speakers.length, 0);

  t.equal((await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: { streamId: stream.id } })).body.streamId, stream.id, 'no overlap at 1–2');
  const clash = await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: { startsAt: at(3), endsAt: at(4.5) } });
  t.same([clash.status, clash.body.code], [409, 'stream_in_use']);
  t.match(clash.body.detail, /Other/);
  t.equal((await call('PUT', `/sessions/${other.id}`, { token: admin.token, body: { endsAt: at(5.5) } })).status, 200, 'a session does not clash with itself');
  const unassigned = await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: { streamId: null, startsAt: at(3), endsAt: at(4.5) } });
  t.match(unassigned.body, { streamId: null, streamStatus: null, playbackUrl: null });

  t.same(fields(await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: { endsAt: at(9) } })), ['body.endsAt'], 'outside the event');
  t.same(fields(await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: { startsAt: at(6) } })), ['body.endsAt'], 'start after the stored end');
  t.equal((await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: {} })).status, 400);
  t.equal((await call('PUT', `/sessions/${s.id}`, { token: admin.token, body: { eventId: e.id } })).status, 400);
  t.equal((await call('PUT', `/sessions/${s.id}`, { token: mod.token, body: { title: 'x' } })).status, 403);
  t.equal((await call('PUT', '/sessions/00000000-0000-4000-8000-000000000000', { token: admin.token, body: { title: 'x' } })).status, 404);

  t.equal((await call('DELETE', `/sessions/${s.id}`, { token: alice.token })).status, 403);
  t.equal((await call('DELETE', `/sessions/${s.id}`, { token: admin.token })).status, 204);
  t.equal((await call('DELETE', `/sessions/${s.id}`, { token: admin.token })).status, 404);
  t.equal((await call('GET', `/sessions/${s.id}`, { token: admin.token })).status, 404);
  t.equal((await call('GET', '/sessions/bad', { token: admin.token })).status, 400);
});

t.test('streams show their sessions and filter by assignment', async (t) => {
  const e = await makeEvent({ title: 'Linked' });
  const used = await makeStream('Used');
  const idle = await makeStream('Idle');
  const s1 = await makeSession(e.id, { title: 'Morning', startsAt: at(0), endsAt: at(1), streamId: used.id });
  const s2 = await makeSession(e.id, { title: 'Afternoon', startsAt: at(5), endsAt: at(6), streamId: used.id });
  const one = await call('GET', `/streams/${used.id}`, { token: admin.token });
  t.same(one.body.sessions, [
    { id: s1.id, eventId: e.id, title: 'Morning', startsAt: at(0), endsAt: at(1) },
    { id: s2.id, eventId: e.id, title: 'Afternoon', startsAt: at(5), endsAt: at(6) },
  ]);
  t.same((await call('GET', `/streams/${idle.id}`, { token: admin.token })).body.sessions, []);

  const all = async (q: string) => {
    const r = await call('GET', `/streams?limit=100${q}`, { token: admin.token });
    t.equal(r.status, 200);
    return r.body.items as { id: string; sessions: unknown[] }[];
  };
  const assigned = await all('&assigned=true');
  t.ok(assigned.some((s) => s.id === used.id) && assigned.every((s) => s.sessions.length > 0), 'assigned=true');
  const free = await all('&assigned=false');
  t.ok(free.some((s) => s.id === idle.id) && free.every((s) => s.sessions.length === 0), 'assigned=false');
  t.equal((await all('')).length, assigned.length + free.length);
  t.equal((await call('GET', '/streams?assigned=maybe', { token: admin.token })).status, 400);
  t.equal((await call('GET', '/streams', { token: alice.token })).status, 403);

  const regen = await call('POST', `/streams/${used.id}/regenerate-key`, { token: admin.token });
  t.equal(regen.body.sessions.length, 2);
  t.same((await call('POST', '/streams', { token: admin.token, body: { title: 'New' } })).body.sessions, []);
});

t.test('the OpenAPI document describes the event and session endpoints', async (t) => {
  const doc = (await call('GET', '/openapi.json')).body;
  for (const [path, methods] of Object.entries({
    '/api/events': ['get', 'post'],
    '/api/events/{id}': ['get', 'put', 'delete'],
    '/api/events/{id}/join': ['post', 'delete'],
    '/api/events/{id}/attendees': ['get', 'post'],
    '/api/events/{id}/sessions': ['get', 'post'],
    '/api/sessions/{id}': ['get', 'put', 'delete'],
  })) {
    t.same(Object.keys(doc.paths[path] ?? {}).sort(), methods.sort(), path);
  }
  t.ok(doc.paths['/api/events'].get.parameters.some((p: { name: string }) => p.name === 'phase'));
  t.equal(doc.paths['/api/events'].post.requestBody.content['application/json'].schema.additionalProperties, false);
});

t.test('a session’s speakers see its stream (never the key) and may replace the key; others may not', async (t) => {
  const event = await makeEvent();
  const stream = await makeStream('Speaker hall');
  const session = await makeSession(event.id, { speakerIds: [spk.id], streamId: stream.id });
  const other = await makeSession(event.id, { title: 'Other talk', startsAt: at(3), endsAt: at(4), speakerIds: [spk2.id] });

  const seen = await call('GET', `/sessions/${session.id}/stream`, { token: spk.token });
  t.equal(seen.status, 200);
  t.match(seen.body, { sessionId: session.id, title: 'Speaker hall', status: 'offline', renditions: [], lastPublish: null });
  t.match(seen.body.rtmpUrl, /^rtmp:\/\//);
  t.notOk(JSON.stringify(seen.body).includes(stream.streamKey), 'the key is in no read');
  t.equal((await call('GET', `/sessions/${session.id}/stream`, { token: mod.token })).status, 200, 'organisers too');
  t.equal((await call('GET', `/sessions/${session.id}/stream`, { token: spk2.token })).status, 403, 'a speaker of another session may not');
  t.equal((await call('GET', `/sessions/${session.id}/stream`, { token: alice.token })).status, 403, 'an attendee may not');
  t.equal((await call('GET', `/sessions/${other.id}/stream`, { token: spk2.token })).status, 404, 'a session without a stream');

  t.equal((await call('POST', `/sessions/${session.id}/stream/regenerate-key`, { token: mod.token })).status, 403, 'a moderator may not replace a key');
  t.equal((await call('POST', `/sessions/${session.id}/stream/regenerate-key`, { token: spk2.token })).status, 403);
  const fresh = await call('POST', `/sessions/${session.id}/stream/regenerate-key`, { token: spk.token });
  t.equal(fresh.status, 200);
  t.match(fresh.body.streamKey, /^live_/);
  t.not(fresh.body.streamKey, stream.streamKey, 'a new key, shown once');
  const again = await call('GET', `/sessions/${session.id}/stream`, { token: spk.token });
  t.notOk(JSON.stringify(again.body).includes(fresh.body.streamKey), 'and never again');
});
