// Per-session chat settings over two nodes: reading and changing them (broadcast as
// chat:settings), slow mode enforced across nodes with retryAfterSeconds, disabled chat,
// attendees-only, and staff passing all three.
import t from 'tap';
import { startTestApi, type TestApi } from '../testing/api.js';
import { joinedSession, type WsClient } from '../testing/ws.js';

const a = await startTestApi(t);
const b = await startTestApi(t, { nodeOf: a });
const admin = await a.user('admin');
const moderator = await a.user('moderator');
const HOUR = 3_600_000;
const at = (h: number) => new Date(Date.now() + h * HOUR).toISOString();

const newSession = () => a.liveSession(admin.token);
const clients: WsClient[] = [];
t.teardown(() => clients.forEach((c) => c.close()));
async function joined(node: TestApi, token: string, sessionId: string): Promise<WsClient> {
  const c = await joinedSession(node.wsUrl, token, sessionId);
  clients.push(c);
  return c;
}
const put = (token: string, sessionId: string, body: object) => a.call('PUT', `/chat/session/${sessionId}/settings`, { token, body });
const post = (node: TestApi, token: string, sessionId: string, text: string) => node.call('POST', `/chat/session/${sessionId}`, { token, body: { text } });

t.test('settings start at the defaults, change for staff only, and reach the room', async (t) => {
  const { session } = await newSession();
  const u = await a.user('attendee');
  const got = await b.call('GET', `/chat/session/${session.id}/settings`, { token: u.token });
  t.same(got.body, { sessionId: session.id, enabled: true, slowModeSeconds: 0, attendeesOnly: false });
  t.equal((await put(u.token, session.id, { enabled: false })).status, 403, 'attendees may not');
  t.equal((await put(moderator.token, session.id, {})).status, 400, 'nothing to change');
  t.equal((await put(moderator.token, session.id, { slowModeSeconds: 3601 })).status, 400);
  const watcher = await joined(b, u.token, session.id);
  const changed = await put(moderator.token, session.id, { slowModeSeconds: 10 });
  t.same(changed.body, { sessionId: session.id, enabled: true, slowModeSeconds: 10, attendeesOnly: false });
  t.same(await watcher.next((f) => f.type === 'chat:settings'), { type: 'chat:settings', settings: changed.body }, 'chat:settings reaches the other node');
  const modWs = await joined(a, moderator.token, session.id);
  const from = watcher.frames.length;
  t.equal((await modWs.request({ type: 'chat:settings', sessionId: session.id, attendeesOnly: true })).type, 'ack', 'over WS too');
  t.same((await watcher.next((f) => f.type === 'chat:settings', { from })).settings, { sessionId: session.id, enabled: true, slowModeSeconds: 10, attendeesOnly: true }, 'the other fields keep their values');
  t.equal((await watcher.request({ type: 'chat:settings', sessionId: session.id, enabled: false })).code, 'forbidden', 'an attendee over WS');
});

t.test('slow mode: one message per person per N seconds, across nodes; staff pass', async (t) => {
  const { session } = await newSession();
  const [u, other] = [await a.user('attendee'), await a.user('attendee')];
  await put(moderator.token, session.id, { slowModeSeconds: 30 });
  const onA = await joined(a, u.token, session.id);
  t.equal((await onA.request({ type: 'chat:send', sessionId: session.id, text: 'first' })).type, 'ack');
  const viaB = await post(b, u.token, session.id, 'second');
  t.same([viaB.status, viaB.body.code], [429, 'slow_mode'], 'refused on the other node too');
  const retry = Number(viaB.headers.get('retry-after'));
  t.ok(retry >= 29 && retry <= 30, `Retry-After ${retry}`);
  const ws = await onA.request({ type: 'chat:send', sessionId: session.id, text: 'third' });
  t.same([ws.type, ws.code], ['error', 'slow_mode']);
  t.ok(ws.retryAfterSeconds >= 1 && ws.retryAfterSeconds <= 30, 'with retryAfterSeconds');
  t.match(ws.message, /Slow mode is on: one message every 30 s/);
  t.equal((await post(a, other.token, session.id, 'someone else')).status, 201, 'per person');
  t.equal((await post(a, moderator.token, session.id, 'staff 1')).status, 201);
  t.equal((await post(b, moderator.token, session.id, 'staff 2')).status, 201, 'staff are not slowed');
  await put(moderator.token, session.id, { slowModeSeconds: 0 });
  t.equal((await post(a, u.token, session.id, 'slow mode off')).status, 201, 'off: sends at once');
  await put(moderator.token, session.id, { slowModeSeconds: 1 });
  const third = await a.user('attendee');
  t.equal((await post(a, third.token, session.id, 'a')).status, 201);
  t.equal((await post(b, third.token, session.id, 'b')).status, 429);
  await new Promise((r) => setTimeout(r, 1100));
  t.equal((await post(a, third.token, session.id, 'c')).status, 201, 'after N seconds, again');
  const texts = (await a.call('GET', `/chat/session/${session.id}`, { token: u.token })).body.items.map((m: { text: string }) => m.text);
  t.same(texts, ['first', 'someone else', 'staff 1', 'staff 2', 'slow mode off', 'a', 'c'], 'refused messages were not saved');
});

t.test('disabled chat refuses everyone but staff', async (t) => {
  const { session } = await newSession();
  const u = await a.user('attendee');
  await put(moderator.token, session.id, { enabled: false });
  const r = await post(b, u.token, session.id, 'hello?');
  t.same([r.status, r.body.code], [403, 'chat_disabled']);
  const ws = await joined(b, u.token, session.id);
  t.equal((await ws.request({ type: 'chat:send', sessionId: session.id, text: 'hello?' })).code, 'chat_disabled', 'a visible error over WS');
  t.equal((await post(a, admin.token, session.id, 'announcement')).status, 201, 'staff still can');
  t.equal((await a.call('GET', `/chat/session/${session.id}`, { token: u.token })).status, 200, 'history stays readable');
  await put(moderator.token, session.id, { enabled: true });
  t.equal((await post(b, u.token, session.id, 'back')).status, 201);
});

t.test('attendees-only: joined attendees, the event’s speakers and staff', async (t) => {
  const { event, session } = await newSession();
  const [viewer, speaker] = [await a.user('attendee'), await a.user('speaker')];
  const talk = (await a.call('POST', `/events/${event.id}/sessions`, { token: admin.token, body: { title: 'Talk', startsAt: at(-1), endsAt: at(1), speakerIds: [speaker.id] } })).body;
  await put(moderator.token, session.id, { attendeesOnly: true });
  const r = await post(a, viewer.token, session.id, 'hi');
  t.same([r.status, r.body.code], [403, 'attendees_only']);
  t.equal((await post(a, speaker.token, session.id, 'speaker here')).status, 201, 'a speaker of the event (another session of it)');
  t.equal((await post(a, moderator.token, session.id, 'staff')).status, 201);
  t.equal((await a.call('POST', `/events/${event.id}/join`, { token: viewer.token })).status, 201);
  t.equal((await post(b, viewer.token, session.id, 'joined now')).status, 201, 'after joining the event');
  t.ok(talk.id);
});
