// The WebSocket endpoint on two API nodes sharing Postgres and Redis: upgrade authentication,
// room admission, presence counts across nodes, typing, malformed and oversized frames,
// rate limits, revocation closing sockets, and delivery order across nodes.
import t from 'tap';
import { startTestApi } from '../testing/api.js';
import { connectWs } from '../testing/ws.js';

const a = await startTestApi(t);
const b = await startTestApi(t, { nodeOf: a });
const admin = await a.user('admin');
const HOUR = 3_600_000;
const at = (h: number) => new Date(Date.now() + h * HOUR).toISOString();
const event = (await a.call('POST', '/events', { token: admin.token, body: { title: 'Live', startsAt: at(-1), endsAt: at(3), status: 'published' } })).body;
const session = (await a.call('POST', `/events/${event.id}/sessions`, { token: admin.token, body: { title: 'Main', startsAt: at(-1), endsAt: at(2) } })).body;
const privateEvent = (await a.call('POST', '/events', { token: admin.token, body: { title: 'Secret', startsAt: at(-1), endsAt: at(3), status: 'published', visibility: 'private' } })).body;
const privateSession = (await a.call('POST', `/events/${privateEvent.id}/sessions`, { token: admin.token, body: { title: 'Hidden', startsAt: at(-1), endsAt: at(2) } })).body;

t.test('the upgrade needs a live token', async (t) => {
  await t.rejects(connectWs(a.wsUrl), { message: /upgrade refused: 401/ }, 'no token');
  await t.rejects(connectWs(a.wsUrl, { token: 'x.y.z' }), { message: /upgrade refused: 401/ }, 'bad token');
  const u = await a.user('attendee');
  const byHeader = await connectWs(a.wsUrl, { headers: { authorization: `Bearer ${u.token}` } });
  byHeader.close();
  const ws = await connectWs(a.wsUrl, { token: u.token });
  const ack = await ws.request({ type: 'session:join', sessionId: session.id });
  t.same(ack, { type: 'ack', id: ack.id });
  t.match(ack.id, /^r\d+$/);
  ws.close();
});

t.test('presence counts people across nodes, once per person however many tabs', async (t) => {
  const [u1, u2] = [await a.user('attendee'), await a.user('attendee')];
  const tab1 = await connectWs(a.wsUrl, { token: u1.token });
  const tab2 = await connectWs(b.wsUrl, { token: u1.token });
  const other = await connectWs(b.wsUrl, { token: u2.token });
  t.teardown(() => [tab1, tab2, other].forEach((c) => c.close()));
  for (const c of [tab1, tab2, other]) t.equal((await c.request({ type: 'session:join', sessionId: session.id })).type, 'ack');
  const two = await tab1.next((f) => f.type === 'viewers:count' && f.count === 2, { timeoutMs: 4000 });
  t.equal(two.sessionId, session.id, 'two people, three sockets, two nodes');
  await other.next((f) => f.type === 'viewers:count' && f.count === 2, { timeoutMs: 4000 });
  const from = tab1.frames.length;
  other.close();
  await tab1.next((f) => f.type === 'viewers:count' && f.count === 1, { timeoutMs: 4000, from });
  t.pass('a person leaving is counted out within seconds');
});

t.test('typing is relayed to the room, not stored, and throttled', async (t) => {
  const [u1, u2] = [await a.user('attendee'), await a.user('attendee', { name: 'Tina Typer' })];
  const watcher = await connectWs(a.wsUrl, { token: u1.token });
  const typer = await connectWs(b.wsUrl, { token: u2.token });
  t.teardown(() => [watcher, typer].forEach((c) => c.close()));
  t.equal((await typer.request({ type: 'typing', sessionId: session.id })).code, 'not_in_room');
  await watcher.request({ type: 'session:join', sessionId: session.id });
  await typer.request({ type: 'session:join', sessionId: session.id });
  await typer.request({ type: 'typing', sessionId: session.id });
  const seen = await watcher.next((f) => f.type === 'typing');
  t.same(seen, { type: 'typing', sessionId: session.id, user: { id: u2.id, name: 'Tina Typer' } });
});

t.test('private rooms admit attendees only', async (t) => {
  const outsider = await a.user('attendee');
  const ws = await connectWs(a.wsUrl, { token: outsider.token });
  t.teardown(() => ws.close());
  const refused = await ws.request({ type: 'session:join', sessionId: privateSession.id });
  t.same([refused.type, refused.code], ['error', 'not_found']);
  t.equal((await a.call('POST', `/events/${privateEvent.id}/attendees`, { token: admin.token, body: { userIds: [outsider.id] } })).status, 200);
  t.equal((await ws.request({ type: 'session:join', sessionId: privateSession.id })).type, 'ack', 'admitted once added');
});

t.test('malformed and oversized frames get errors; the socket stays up and others are not disturbed', async (t) => {
  const [u1, u2] = [await a.user('attendee'), await a.user('attendee')];
  const bad = await connectWs(a.wsUrl, { token: u1.token });
  const good = await connectWs(a.wsUrl, { token: u2.token });
  t.teardown(() => [bad, good].forEach((c) => c.close()));
  await good.request({ type: 'session:join', sessionId: session.id });
  const cases: [string | object, string][] = [
    ['not json', 'bad_json'],
    ['[]', 'bad_request'],
    [{ type: 'nope' }, 'bad_request'],
    [{ type: 'session:join', sessionId: 'x' }, 'bad_request'],
    [{ type: 'session:join', sessionId: session.id, extra: 1 }, 'bad_request'],
    [{ type: 'chat:send', sessionId: session.id, text: 'x'.repeat(5000) }, 'frame_too_large'],
    [{ type: 'session:join', sessionId: '00000000-0000-4000-8000-000000000000' }, 'not_found'],
  ];
  for (const [frame, code] of cases) {
    const from = bad.frames.length;
    bad.send(frame);
    const err = await bad.next((f) => f.type === 'error', { from });
    t.equal(err.code, code, JSON.stringify(frame).slice(0, 60));
  }
  bad.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  t.equal((await bad.next((f) => f.code === 'bad_frame')).type, 'error');
  t.equal((await bad.request({ type: 'session:join', sessionId: session.id })).type, 'ack', 'still up');
  t.equal((await good.request({ type: 'session:leave', sessionId: session.id })).type, 'ack', 'the neighbour is fine');
});

t.test('frames past the per-connection budget are refused with a visible notice', async (t) => {
  const u = await a.user('attendee');
  const ws = await connectWs(a.wsUrl, { token: u.token });
  t.teardown(() => ws.close());
  for (let i = 0; i < 60; i++) ws.send({ type: 'session:leave', sessionId: session.id, id: `f${i}` });
  const limited = await ws.next((f) => f.type === 'error' && f.code === 'rate_limited');
  t.match(limited.message, /too fast; wait \d+ s/);
  t.ok(limited.retryAfterSeconds >= 1);
});

t.test('signing out or revoking a device closes its sockets at once, on every node', async (t) => {
  const u = await a.user('attendee');
  const second = await a.login(u.email, u.password);
  const onA = await connectWs(a.wsUrl, { token: u.token });
  const onB = await connectWs(b.wsUrl, { token: u.token });
  const other = await connectWs(b.wsUrl, { token: second });
  t.equal((await a.call('POST', '/auth/logout', { token: u.token })).status, 204);
  t.equal((await onA.closed).code, 4401);
  t.equal((await onB.closed).code, 4401, 'the other node closed it too');
  t.equal(other.ws.readyState, other.ws.OPEN, 'the other device stays');
  const me = (await a.call('GET', '/auth/me', { token: second })).body;
  t.equal((await b.call('DELETE', `/auth/devices/${me.deviceId}`, { token: second })).status, 204);
  t.equal((await other.closed).code, 4401);
  await t.rejects(connectWs(a.wsUrl, { token: u.token }), { message: /upgrade refused: 401/ }, 'a dead token cannot reconnect');
});
