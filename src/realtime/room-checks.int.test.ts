// Open rooms are re-checked when who may read an event changes — a role, the event's status or
// visibility, an attendee removed — on every node: a socket that may no longer read leaves at
// once with `room:closed` (code and reason), nothing published after the change reaches it, the
// viewer count follows; sockets that still may read stay. A change whose bus message is lost is
// caught by the periodic round.
import t from 'tap';
import { NO_RATE_LIMITS, startTestApi, type TestApi } from '../testing/api.js';
import { joinedSession, type Frame, type WsClient } from '../testing/ws.js';

const a = await startTestApi(t, { env: NO_RATE_LIMITS });
const b = await startTestApi(t, { nodeOf: a });
const admin = await a.user('admin');
const HOUR = 3_600_000;
const at = (h: number) => new Date(Date.now() + h * HOUR).toISOString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const clients: WsClient[] = [];
t.teardown(() => clients.forEach((c) => c.close()));
async function joined(node: TestApi, token: string, sessionId: string, eventId?: string): Promise<WsClient> {
  const c = await joinedSession(node.wsUrl, token, sessionId);
  clients.push(c);
  if (eventId && (await c.request({ type: 'event:join', eventId })).type !== 'ack') throw new Error('event:join refused');
  return c;
}

async function liveEvent(node: TestApi, body: Record<string, unknown>) {
  const event = (await node.call('POST', '/events', { token: admin.token, body: { title: 'Rooms', startsAt: at(-1), endsAt: at(3), ...body } })).body;
  const session = (await node.call('POST', `/events/${event.id}/sessions`, { token: admin.token, body: { title: 'Main', startsAt: at(-1), endsAt: at(2) } })).body;
  return { event, session };
}

/**
 * Sends a chat message after the change and waits until `stay` got it; true when `gone` got it too
 * (after a margin: `gone` reads its own TCP connection).
 */
async function chatReaches(o: { node: TestApi; sessionId: string; stay: WsClient[]; gone: WsClient }): Promise<boolean> {
  const sent = await o.node.call('POST', `/chat/session/${o.sessionId}`, { token: admin.token, body: { text: `after ${Math.random()}` } });
  if (sent.status !== 201) throw new Error(`chat → ${sent.status} ${JSON.stringify(sent.body)}`);
  for (const c of o.stay) await c.next((f) => f.type === 'chat:message' && f.message.id === sent.body.id);
  await sleep(500);
  return o.gone.frames.some((f) => f.type === 'chat:message' && f.message.id === sent.body.id);
}

const closedFrames = (c: WsClient) => c.frames.filter((f) => f.type === 'room:closed');

t.test("a demoted moderator's socket in a draft event's room stops receiving its chat at once", async (t) => {
  const { event, session } = await liveEvent(a, { status: 'draft' });
  const mod = await a.user('moderator');
  const modWs = await joined(b, mod.token, session.id, event.id);
  const adminWs = await joined(b, admin.token, session.id);
  const before = await a.call('POST', `/chat/session/${session.id}`, { token: admin.token, body: { text: 'staff only' } });
  await modWs.next((f) => f.type === 'chat:message' && f.message.id === before.body.id);

  t.equal((await a.call('PATCH', `/users/${mod.id}/role`, { token: admin.token, body: { role: 'attendee' } })).status, 200);
  t.notOk(await chatReaches({ node: a, sessionId: session.id, stay: [adminWs], gone: modWs }), 'the chat sent right after the demotion does not reach the demoted moderator');
  const closed = await modWs.next((f) => f.type === 'room:closed' && f.room === `session:${session.id}`);
  t.same(closed, { type: 'room:closed', room: `session:${session.id}`, code: 'forbidden', reason: 'This event is a draft now: only organisers may follow it.' });
  await modWs.next((f) => f.type === 'room:closed' && f.room === `event:${event.id}`);
  t.pass('the event room too');
  t.same(closedFrames(adminWs), [], 'the admin stays');
  t.equal(modWs.ws.readyState, modWs.ws.OPEN, 'the socket itself stays open');
  t.equal((await modWs.request({ type: 'session:join', sessionId: session.id })).code, 'not_found', 'and cannot re-join');
  t.equal((await modWs.request({ type: 'chat:send', sessionId: session.id, text: 'hello?' })).code, 'not_in_room');
});

t.test("an event going from published to draft drops plain attendees' sockets; staff stay and the count follows", async (t) => {
  const { event, session } = await liveEvent(a, { status: 'published' });
  const [u1, u2, mod] = [await a.user('attendee'), await a.user('attendee'), await a.user('moderator')];
  t.equal((await a.call('POST', `/events/${event.id}/join`, { token: u1.token })).status, 201, 'one joined the event, one did not');
  const ws1 = await joined(a, u1.token, session.id, event.id);
  const ws2 = await joined(b, u2.token, session.id);
  const modWs = await joined(b, mod.token, session.id);
  await modWs.next((f) => f.type === 'viewers:count' && f.count === 3, { timeoutMs: 8000 });

  const from = modWs.frames.length;
  t.equal((await a.call('PUT', `/events/${event.id}`, { token: admin.token, body: { status: 'draft' } })).status, 200);
  t.notOk(await chatReaches({ node: b, sessionId: session.id, stay: [modWs], gone: ws2 }), 'nothing after the change reaches the attendee on node B');
  t.notOk(ws1.frames.some((f: Frame) => f.type === 'chat:message'), 'nor the one on node A');
  for (const ws of [ws1, ws2]) t.match(await ws.next((f) => f.type === 'room:closed' && f.room === `session:${session.id}`), { code: 'forbidden' });
  await ws1.next((f) => f.type === 'room:closed' && f.room === `event:${event.id}`);
  t.same(closedFrames(modWs), [], 'the moderator stays');
  await modWs.next((f) => f.type === 'viewers:count' && f.count === 1, { timeoutMs: 8000, from });
  t.pass('the viewer count drops to the one who stays');
});

t.test("removing an attendee from a private event drops that user's sockets on every node, not the others'", async (t) => {
  const { event, session } = await liveEvent(a, { status: 'published', visibility: 'private' });
  const [gone, stays, leaves] = [await a.user('attendee'), await a.user('attendee'), await a.user('attendee')];
  t.equal((await a.call('POST', `/events/${event.id}/attendees`, { token: admin.token, body: { userIds: [gone.id, stays.id, leaves.id] } })).status, 200);
  const goneA = await joined(a, gone.token, session.id);
  const goneB = await joined(b, gone.token, session.id, event.id);
  const staysB = await joined(b, stays.token, session.id, event.id);
  const leavesB = await joined(b, leaves.token, session.id);

  t.equal((await a.call('DELETE', `/events/${event.id}/attendees/${gone.id}`, { token: admin.token })).status, 204);
  t.notOk(await chatReaches({ node: a, sessionId: session.id, stay: [staysB], gone: goneB }), 'the removed attendee gets no more chat');
  t.notOk(goneA.frames.some((f) => f.type === 'chat:message'), 'on either node');
  for (const ws of [goneA, goneB]) {
    t.same(await ws.next((f) => f.type === 'room:closed' && f.room === `session:${session.id}`), {
      type: 'room:closed', room: `session:${session.id}`, code: 'not_attendee', reason: 'This event is private and you are not among its attendees (or speakers).',
    });
  }
  await goneB.next((f) => f.type === 'room:closed' && f.room === `event:${event.id}`);
  t.same(closedFrames(staysB), [], 'the other attendee stays');
  t.same(closedFrames(leavesB), [], 'and so does the third');

  t.equal((await a.call('DELETE', `/events/${event.id}/join`, { token: leaves.token })).status, 204, 'the third leaves the event herself');
  t.notOk(await chatReaches({ node: a, sessionId: session.id, stay: [staysB], gone: leavesB }), 'and gets no more of its chat');
  t.match(await leavesB.next((f) => f.type === 'room:closed'), { room: `session:${session.id}`, code: 'not_attendee' });
  t.same(closedFrames(staysB), [], 'the other attendee still stays');
});

t.test("a speaker taken off a private event's session leaves its rooms", async (t) => {
  const { event, session } = await liveEvent(a, { status: 'published', visibility: 'private' });
  const [spk, other] = [await a.user('speaker'), await a.user('speaker')];
  t.equal((await a.call('PUT', `/sessions/${session.id}`, { token: admin.token, body: { speakerIds: [spk.id, other.id] } })).status, 200);
  const spkB = await joined(b, spk.token, session.id);
  const otherA = await joined(a, other.token, session.id);
  t.equal((await a.call('PUT', `/sessions/${session.id}`, { token: admin.token, body: { speakerIds: [other.id] } })).status, 200);
  t.notOk(await chatReaches({ node: a, sessionId: session.id, stay: [otherA], gone: spkB }), 'no more chat for the former speaker');
  t.match(await spkB.next((f) => f.type === 'room:closed'), { room: `session:${session.id}`, code: 'not_attendee' });
  t.same(closedFrames(otherA), [], 'the speaker who remains stays');
});

t.test('a visibility change made on node A drops the socket on node B; an attendee there stays', async (t) => {
  const { event, session } = await liveEvent(a, { status: 'published', visibility: 'public' });
  const [member, outsider] = [await a.user('attendee'), await a.user('attendee')];
  t.equal((await a.call('POST', `/events/${event.id}/join`, { token: member.token })).status, 201);
  const memberB = await joined(b, member.token, session.id);
  const outsiderB = await joined(b, outsider.token, session.id);
  t.equal((await a.call('PUT', `/events/${event.id}`, { token: admin.token, body: { visibility: 'private' } })).status, 200);
  t.notOk(await chatReaches({ node: a, sessionId: session.id, stay: [memberB], gone: outsiderB }), 'nothing after the change reaches the outsider');
  t.match(await outsiderB.next((f) => f.type === 'room:closed'), { room: `session:${session.id}`, code: 'not_attendee' });
  t.same(closedFrames(memberB), [], 'the attendee stays');
  t.equal((await b.call('DELETE', `/events/${event.id}`, { token: admin.token })).status, 204, 'deleted on node B');
  t.match(await memberB.next((f) => f.type === 'room:closed'), { room: `session:${session.id}`, code: 'not_found' }, 'a deleted event closes its rooms');
});

t.test('a change whose bus message is lost is caught by the periodic re-check', async (t) => {
  const c = await startTestApi(t, { env: { ...NO_RATE_LIMITS, ROOM_RECHECK_SECONDS: '1' } });
  const cAdmin = await c.user('admin');
  const event = (await c.call('POST', '/events', { token: cAdmin.token, body: { title: 'Quiet', startsAt: at(-1), endsAt: at(3), status: 'published' } })).body;
  const session = (await c.call('POST', `/events/${event.id}/sessions`, { token: cAdmin.token, body: { title: 'Main', startsAt: at(-1), endsAt: at(2) } })).body;
  const [u, mod] = [await c.user('attendee'), await c.user('moderator')];
  const ws = await joined(c, u.token, session.id);
  const modWs = await joined(c, mod.token, session.id);
  await sleep(2_500);
  t.same([...closedFrames(ws), ...closedFrames(modWs)], [], 'rounds leave sockets that may read alone');
  // straight into the database: no bus message tells any node
  await c.pool.query(`UPDATE events SET status = 'draft' WHERE id = $1`, [event.id]);
  t.match(await ws.next((f) => f.type === 'room:closed', { timeoutMs: 10_000 }), { room: `session:${session.id}`, code: 'forbidden' });
  t.same(closedFrames(modWs), [], 'staff stay');
  await c.pool.query(`UPDATE users SET role = 'attendee' WHERE id = $1`, [mod.id]);
  t.match(await modWs.next((f) => f.type === 'room:closed', { timeoutMs: 10_000 }), { room: `session:${session.id}`, code: 'forbidden' }, 'a role changed unseen too');
});
