// The organiser's and the attendee's day, as the README's curl walkthrough tells it, through nginx
// against the real api, ingest and worker processes: import 5,000 attendees, change a role, build
// an event with branding, a limit and sessions with speakers and a stream, publish it; register,
// join, watch once the stream is live; manage devices; log out.
import t from 'tap';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { connectWs } from '../testing/ws.js';

const stack = await startStack(t);
const admin = stack.token;
const api = stack.api;

t.test('an organiser and an attendee, end to end through nginx', async (t) => {
  // the docs a newcomer starts from
  const docs = await fetch(`${stack.base}/api/docs`);
  t.equal(docs.status, 200, 'interactive docs through nginx');
  const spec = await api('GET', '/openapi.json');
  t.ok(spec.body.paths['/api/events/{id}/join'], 'the OpenAPI document lists join');

  // 5,000 attendees from a CSV, one of them twice
  const lines = ['email,name,role', ...Array.from({ length: 5000 }, (_, i) => `guest${i}@example.com,Guest ${i},${i === 0 ? 'speaker' : ''}`), 'guest7@example.com,Again,'];
  const imported = await fetch(`${stack.base}/api/users/import`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv' },
    body: lines.join('\n'),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
  t.equal(imported.status, 200);
  t.same([imported.body.created, imported.body.skipped, imported.body.failed], [5000, 1, 0]);
  t.same(imported.body.results.at(-1), { line: 5002, email: 'guest7@example.com', status: 'skipped', reason: 'duplicate of line 9' });
  const speakerRow = imported.body.results[0];

  // the speaker sets a password with the one-time token handed to the admin, and signs in
  t.equal((await api('POST', '/auth/set-password', { token: speakerRow.setPasswordToken, password: 'speaker password' })).status, 204);
  const speakerLogin = await api('POST', '/auth/login', { email: 'guest0@example.com', password: 'speaker password' });
  t.equal(speakerLogin.status, 200);

  // promote a guest to moderator
  const promoted = await api('PATCH', `/users/${imported.body.results[1].userId}/role`, { role: 'moderator' }, admin);
  t.same([promoted.status, promoted.body.role], [200, 'moderator']);

  // the event: schedule, branding, a limit; a stream; two sessions; published
  const startsAt = new Date(Date.now() - 10 * 60_000);
  const endsAt = new Date(Date.now() + 3 * 3600_000);
  const event = await api('POST', '/events', {
    title: 'Onair Summit',
    description: 'Talks about streaming.',
    startsAt: startsAt.toISOString(),
    endsAt: endsAt.toISOString(),
    timezone: 'Europe/Berlin',
    visibility: 'public',
    attendeeLimit: 2,
    branding: { primaryColor: '#112233', secondaryColor: '#ffcc00', logoUrl: 'https://cdn.example/logo.png' },
  }, admin);
  t.equal(event.status, 201);
  t.equal(event.body.status, 'draft');
  const stream = await stack.createStream('Main stage');
  const keynote = await api('POST', `/events/${event.body.id}/sessions`, {
    title: 'Keynote',
    startsAt: startsAt.toISOString(),
    endsAt: new Date(startsAt.getTime() + 3600_000).toISOString(),
    speakerIds: [speakerRow.userId],
    streamId: stream.id,
  }, admin);
  t.equal(keynote.status, 201);
  t.equal((await api('POST', `/events/${event.body.id}/sessions`, {
    title: 'Panel',
    startsAt: new Date(startsAt.getTime() + 3600_000).toISOString(),
    endsAt: new Date(startsAt.getTime() + 7200_000).toISOString(),
  }, admin)).status, 201);
  t.equal((await api('PUT', `/events/${event.body.id}`, { status: 'published' }, admin)).body.status, 'published');

  // an attendee registers, signs in, finds the live event, joins
  t.equal((await api('POST', '/auth/register', { email: 'ana@example.com', password: 'ana password', name: 'Ana' })).status, 202);
  const ana = (await api('POST', '/auth/login', { email: 'ana@example.com', password: 'ana password' })).body.token as string;
  t.equal((await api('GET', '/auth/me', undefined, ana)).body.name, 'Ana');
  const live = await api('GET', '/events?phase=live', undefined, ana);
  t.same(live.body.items.map((e: { id: string }) => e.id), [event.body.id]);
  t.same((await api('GET', '/events?phase=upcoming', undefined, ana)).body.items, []);
  const before = await api('GET', `/sessions/${keynote.body.id}`, undefined, ana);
  t.equal(before.body.playbackUrl, null, 'no playback URL before joining');
  t.equal((await api('POST', `/events/${event.body.id}/join`, undefined, ana)).status, 201);

  // the limit of 2: a second attendee gets in, a third is refused with a clear message
  const guests = await Promise.all(['bo', 'cy'].map(async (n) => {
    await api('POST', '/auth/register', { email: `${n}@example.com`, password: `${n} password!`, name: n });
    return (await api('POST', '/auth/login', { email: `${n}@example.com`, password: `${n} password!` })).body.token as string;
  }));
  t.equal((await api('POST', `/events/${event.body.id}/join`, undefined, guests[0])).status, 201);
  const full = await api('POST', `/events/${event.body.id}/join`, undefined, guests[1]);
  t.same([full.status, full.body.code], [409, 'event_full']);
  t.match(full.body.detail, /full/i);

  // the stream goes live: the attendee gets a playable URL
  const session = await api('GET', `/sessions/${keynote.body.id}`, undefined, ana);
  t.equal(session.body.live, false);
  t.match(session.body.playbackUrl, new RegExp(`/hls/${stream.playbackId}/v/[A-Za-z0-9_.-]+/master\\.m3u8$`), 'a playback URL of her own once joined');
  publishTestPattern(t, { url: stack.rtmpUrl(stream.streamKey), width: 640, height: 360, fps: 30, seconds: 60 });
  await stack.waitForMaster(stream.playbackId);
  await waitFor(async () => (await api('GET', `/sessions/${keynote.body.id}`, undefined, ana)).body.live === true, { what: 'the session to show live' });
  const master = await fetch(session.body.playbackUrl); // HLS_HOST is this stack's nginx
  t.equal(master.status, 200, 'her URL plays through nginx');
  t.match(await master.text(), /#EXT-X-STREAM-INF/);
  const forged = session.body.playbackUrl.replace(/\/v\/[A-Za-z0-9_-]{10}/, '/v/AAAAAAAAAA');
  t.equal((await fetch(forged)).status, 403, 'an altered token is refused');
  t.notOk(JSON.stringify(session.body).includes(stream.streamKey), 'no stream key in what an attendee sees');

  // live engagement through nginx's /ws: the attendee enters the session's room and is counted
  const ws = await connectWs(`${stack.base.replace(/^http/, 'ws')}/ws`, { token: ana });
  t.teardown(() => ws.close());
  t.equal((await ws.request({ type: 'session:join', sessionId: keynote.body.id })).type, 'ack', 'WebSocket through nginx');
  t.equal((await ws.next((f) => f.type === 'viewers:count')).count, 1, 'one watching');

  // the speaker sees who attends; the attendee may not
  const speakerToken = speakerLogin.body.token as string;
  const attendees = await api('GET', `/events/${event.body.id}/attendees`, undefined, speakerToken);
  t.equal(attendees.status, 200);
  t.equal(attendees.body.items.length, 2);
  t.equal((await api('GET', `/events/${event.body.id}/attendees`, undefined, ana)).status, 403);

  // devices: a second sign-in, revoked from the first; then logout
  const phone = (await api('POST', '/auth/login', { email: 'ana@example.com', password: 'ana password' })).body.token as string;
  const devices = await api('GET', '/auth/devices', undefined, ana);
  t.equal(devices.body.items.length, 2);
  const other = devices.body.items.find((d: { current: boolean }) => !d.current);
  t.equal((await api('DELETE', `/auth/devices/${other.id}`, undefined, ana)).status, 204);
  t.equal((await api('GET', '/auth/me', undefined, phone)).status, 401, 'the revoked device is signed out');
  t.equal((await api('POST', '/auth/logout', undefined, ana)).status, 204);
  t.equal((await api('GET', '/auth/me', undefined, ana)).status, 401, 'the logged-out token is dead');
  t.equal((await ws.closed).code, 4401, 'and its WebSocket is closed');
});
