// Mutes and bans per event over two nodes: muted users are refused with a visible error until
// unmuted; a ban takes the user out of the event's rooms on every node (room:closed), keeps them
// out and refuses their REST chat; staff cannot be restricted; the list convention.
import t from 'tap';
import { startTestApi, type TestApi } from '../testing/api.js';
import { connectWs, joinedSession, type WsClient } from '../testing/ws.js';

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
const post = (node: TestApi, token: string, sessionId: string, text: string) => node.call('POST', `/chat/session/${sessionId}`, { token, body: { text } });

t.test('a muted user is refused with a visible error until unmuted', async (t) => {
  const { event, session } = await newSession();
  const spammer = await a.user('attendee');
  const ws = await joined(b, spammer.token, session.id);
  t.equal((await a.call('POST', `/events/${event.id}/mutes`, { token: spammer.token, body: { userId: spammer.id } })).status, 403, 'attendees may not mute');
  const muted = await a.call('POST', `/events/${event.id}/mutes`, { token: moderator.token, body: { userId: spammer.id, minutes: 10, reason: 'spam' } });
  t.equal(muted.status, 201);
  t.match(muted.body, { eventId: event.id, user: { id: spammer.id }, kind: 'mute', reason: 'spam', createdBy: { id: moderator.id } });
  const until = Date.parse(muted.body.until);
  t.ok(until > Date.now() + 9 * 60_000 && until <= Date.now() + 10 * 60_000 + 5_000, 'for ten minutes');
  const refused = await ws.request({ type: 'chat:send', sessionId: session.id, text: 'buy now' });
  t.same([refused.type, refused.code], ['error', 'muted']);
  t.match(refused.message, /muted you in this event until \d{4}-/, 'says until when');
  const rest = await post(a, spammer.token, session.id, 'buy now');
  t.same([rest.status, rest.body.code, rest.body.until], [403, 'muted', muted.body.until]);
  t.equal((await a.call('GET', `/chat/session/${session.id}`, { token: spammer.token })).status, 200, 'a muted user still reads');
  const again = await a.call('POST', `/events/${event.id}/mutes`, { token: moderator.token, body: { userId: spammer.id } });
  t.same([again.status, again.body.until], [200, null], 'renewed: now until lifted');
  t.equal((await a.call('DELETE', `/events/${event.id}/mutes/${spammer.id}`, { token: moderator.token })).status, 204);
  t.equal((await a.call('DELETE', `/events/${event.id}/mutes/${spammer.id}`, { token: moderator.token })).status, 404, 'nothing left to lift');
  t.equal((await ws.request({ type: 'chat:send', sessionId: session.id, text: 'sorry' })).type, 'ack', 'unmuted: sends again');

  const modWs = await joined(a, moderator.token, session.id);
  t.equal((await ws.request({ type: 'chat:mute', sessionId: session.id, userId: moderator.id })).code, 'forbidden', 'attendees may not mute over WS');
  t.equal((await modWs.request({ type: 'chat:mute', sessionId: session.id, userId: spammer.id, minutes: 1 })).type, 'ack', 'a moderator mutes over WS');
  t.equal((await ws.request({ type: 'chat:send', sessionId: session.id, text: 'x' })).code, 'muted');
  const other = (await a.call('POST', `/events`, { token: admin.token, body: { title: 'Other', startsAt: at(-1), endsAt: at(3), status: 'published' } })).body;
  const otherSession = (await a.call('POST', `/events/${other.id}/sessions`, { token: admin.token, body: { title: 'S', startsAt: at(-1), endsAt: at(2) } })).body;
  t.equal((await post(a, spammer.token, otherSession.id, 'elsewhere')).status, 201, 'a mute holds in its event only');
});

t.test('an expired mute no longer applies', async (t) => {
  const { event, session } = await newSession();
  const u = await a.user('attendee');
  await a.call('POST', `/events/${event.id}/mutes`, { token: moderator.token, body: { userId: u.id, minutes: 5 } });
  t.equal((await post(a, u.token, session.id, 'x')).status, 403);
  await a.pool.query(`UPDATE event_restrictions SET until = now() - interval '1 second' WHERE event_id = $1 AND user_id = $2`, [event.id, u.id]);
  t.equal((await post(a, u.token, session.id, 'x')).status, 201);
  t.same((await a.call('GET', `/events/${event.id}/restrictions`, { token: moderator.token })).body.items, [], 'nor is it listed');
});

t.test('a ban closes the event’s rooms on every node, keeps the user out and refuses REST chat', async (t) => {
  const { event, session } = await newSession();
  const troll = await a.user('attendee');
  const onA = await joined(a, troll.token, session.id);
  const onB = await joined(b, troll.token, session.id);
  const eventRoomWs = await connectWs(b.wsUrl, { token: troll.token });
  clients.push(eventRoomWs);
  await eventRoomWs.request({ type: 'event:join', eventId: event.id });
  const bystander = await joined(b, (await a.user('attendee')).token, session.id);
  const modWs = await joined(a, moderator.token, session.id);
  t.equal((await onA.request({ type: 'chat:ban', sessionId: session.id, userId: moderator.id })).code, 'forbidden', 'attendees may not ban');
  t.equal((await modWs.request({ type: 'chat:ban', sessionId: session.id, userId: troll.id, reason: 'abuse' })).type, 'ack');
  for (const c of [onA, onB]) {
    const closed = await c.next((f) => f.type === 'room:closed');
    t.same(closed, { type: 'room:closed', room: `session:${session.id}`, code: 'banned', reason: 'You were removed from this event by a moderator.' }, 'room:closed on both nodes');
  }
  t.equal((await eventRoomWs.next((f) => f.type === 'room:closed')).room, `event:${event.id}`, 'the event room too');
  const rejoin = await onB.request({ type: 'session:join', sessionId: session.id });
  t.same([rejoin.type, rejoin.code], ['error', 'banned'], 'cannot re-enter: one code for a ban, on every door');
  t.equal((await onA.request({ type: 'chat:send', sessionId: session.id, text: 'let me in' })).code, 'not_in_room');
  const rest = await post(b, troll.token, session.id, 'via REST then');
  t.same([rest.status, rest.body.code], [403, 'banned']);
  t.equal((await a.call('GET', `/chat/session/${session.id}`, { token: troll.token })).body.code, 'banned', 'nor read the chat');
  t.notOk(bystander.frames.some((f) => f.type === 'room:closed'), 'others stay');
  t.equal(onA.ws.readyState, onA.ws.OPEN, 'the socket itself stays up');

  const list = await a.call('GET', `/events/${event.id}/restrictions?kind=ban`, { token: moderator.token });
  t.match(list.body, { items: [{ user: { id: troll.id }, kind: 'ban', until: null, reason: 'abuse' }], nextCursor: null });
  t.equal((await a.call('GET', `/events/${event.id}/restrictions`, { token: troll.token })).status, 403);
  t.equal((await a.call('DELETE', `/events/${event.id}/bans/${troll.id}`, { token: moderator.token })).status, 204);
  t.equal((await onB.request({ type: 'session:join', sessionId: session.id })).type, 'ack', 'unbanned: may enter again');
  t.equal((await onB.request({ type: 'chat:send', sessionId: session.id, text: 'behaving' })).type, 'ack');
  const viaRest = await a.call('POST', `/events/${event.id}/bans`, { token: admin.token, body: { userId: troll.id } });
  t.same([viaRest.status, viaRest.body.kind], [201, 'ban'], 'banning over REST');
  await onB.next((f) => f.type === 'room:closed' && f.room === `session:${session.id}`, { from: onB.frames.length - 1 });
});

t.test('staff cannot be muted or banned; unknown users and events are 404', async (t) => {
  const { event } = await newSession();
  for (const target of [moderator, admin]) {
    for (const kind of ['mutes', 'bans']) {
      const r = await a.call('POST', `/events/${event.id}/${kind}`, { token: moderator.token, body: { userId: target.id } });
      t.same([r.status, r.body.code], [409, 'cannot_restrict_staff'], `${kind} ${target === admin ? 'an admin' : 'a moderator'}`);
    }
  }
  const u = await a.user('attendee');
  const nobody = '6f1c1a56-5a26-4c4e-9a51-1d6f2e0e8d11';
  t.equal((await a.call('POST', `/events/${event.id}/mutes`, { token: moderator.token, body: { userId: nobody } })).status, 404);
  t.equal((await a.call('POST', `/events/${nobody}/bans`, { token: moderator.token, body: { userId: u.id } })).status, 404);
  t.equal((await a.call('POST', `/events/${event.id}/mutes`, { token: moderator.token, body: { userId: u.id, minutes: 0 } })).status, 400);
  t.equal((await a.call('DELETE', `/events/${event.id}/bans/${u.id}`, { token: moderator.token })).status, 404);
});

t.test('the restrictions list pages newest first', async (t) => {
  const { event } = await newSession();
  const users = [];
  for (let i = 0; i < 5; i++) {
    const u = await a.user('attendee');
    users.push(u);
    await a.call('POST', `/events/${event.id}/${i % 2 ? 'bans' : 'mutes'}`, { token: moderator.token, body: { userId: u.id } });
  }
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const r: { body: { items: { user: { id: string } }[]; nextCursor: string | null } } = await a.call('GET', `/events/${event.id}/restrictions?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: moderator.token });
    seen.push(...r.body.items.map((i) => i.user.id));
    cursor = r.body.nextCursor;
  } while (cursor);
  t.same(seen, users.map((u) => u.id).reverse());
  t.equal((await a.call('GET', `/events/${event.id}/restrictions?kind=mute`, { token: moderator.token })).body.items.length, 3);
  t.equal((await a.call('GET', `/events/${event.id}/restrictions?cursor=bad`, { token: moderator.token })).status, 400);
});
