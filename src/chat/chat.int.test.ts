// Chat over two API nodes sharing Postgres and Redis: one order for everyone, REST and WebSocket
// through the same service, history with after/before cursors and resync after a reconnect,
// pins and deletions reaching everyone, who may delete what, private events, text as sent.
import t from 'tap';
import { NO_RATE_LIMITS, startTestApi, type TestApi } from '../testing/api.js';
import { connectWs, type Frame, type WsClient } from '../testing/ws.js';

const generous = { all: { burst: 10_000, perSecond: 10_000 }, 'chat:send': { burst: 10_000, perSecond: 10_000 } };
const a = await startTestApi(t, { limits: generous, env: NO_RATE_LIMITS }); // the per-user limits: moderation/rate-limits.int.test.ts
const b = await startTestApi(t, { nodeOf: a, limits: generous });
const admin = await a.user('admin');
const moderator = await a.user('moderator');
const HOUR = 3_600_000;
const at = (h: number) => new Date(Date.now() + h * HOUR).toISOString();

async function newSession(o: { visibility?: string } = {}) {
  const event = (await a.call('POST', '/events', { token: admin.token, body: { title: 'Live', startsAt: at(-1), endsAt: at(3), status: 'published', visibility: o.visibility ?? 'public' } })).body;
  const session = (await a.call('POST', `/events/${event.id}/sessions`, { token: admin.token, body: { title: 'Main', startsAt: at(-1), endsAt: at(2) } })).body;
  return { event, session };
}

const clients: WsClient[] = [];
t.teardown(() => clients.forEach((c) => c.close()));
async function joined(node: TestApi, token: string, sessionId: string): Promise<WsClient> {
  const c = await connectWs(node.wsUrl, { token });
  clients.push(c);
  const ack = await c.request({ type: 'session:join', sessionId });
  if (ack.type !== 'ack') throw new Error(`join refused: ${JSON.stringify(ack)}`);
  return c;
}
const chats = (c: WsClient, sessionId: string) => c.frames.filter((f) => f.type === 'chat:message' && f.message.sessionId === sessionId).map((f) => f.message);
async function waitFor(c: WsClient, pred: (f: Frame) => boolean, count: number, timeoutMs = 10_000): Promise<Frame[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const hits = c.frames.filter(pred);
    if (hits.length >= count) return hits;
    if (Date.now() > until) throw new Error(`only ${hits.length} of ${count} frames arrived`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const history = (token: string, sessionId: string, q = '') => a.call('GET', `/chat/session/${sessionId}${q}`, { token });

t.test('messages from three senders on both nodes reach every client in one order', async (t) => {
  const { session } = await newSession();
  const senders = [await a.user('attendee'), await b.user('attendee'), await a.user('attendee')];
  const watchers = [await a.user('attendee'), await a.user('speaker')];
  const sendSockets = [await joined(a, senders[0]!.token, session.id), await joined(b, senders[1]!.token, session.id), await joined(b, senders[2]!.token, session.id)];
  const watchSockets = [await joined(a, watchers[0]!.token, session.id), await joined(b, watchers[1]!.token, session.id)];
  const everyone = [...sendSockets, ...watchSockets];
  const PER_SENDER = 17;
  const acks = await Promise.all(
    sendSockets.flatMap((s, i) => Array.from({ length: PER_SENDER }, (_, n) => s.request({ type: 'chat:send', sessionId: session.id, text: `s${i} m${n}`, clientMsgId: `s${i}-${n}` }))),
  );
  t.same(acks.filter((f) => f.type !== 'ack'), [], 'every send acknowledged');
  const total = sendSockets.length * PER_SENDER;
  const sequences = await Promise.all(everyone.map(async (c) => (await waitFor(c, (f) => f.type === 'chat:message' && f.message.sessionId === session.id, total)).map((f) => f.message.id as string)));
  for (const [i, seq] of sequences.entries()) {
    t.same(seq, sequences[0], `client ${i} saw the same order`);
    t.equal(seq.length, total, `client ${i} saw each message once`);
  }
  t.ok(sequences[0]!.every((id, i) => i === 0 || BigInt(id) > BigInt(sequences[0]![i - 1]!)), 'ids increase in delivery order');
  for (const [i] of sendSockets.entries()) {
    const mine = chats(everyone[3]!, session.id).filter((m) => m.text.startsWith(`s${i} `)).map((m) => m.text);
    t.same(mine, Array.from({ length: PER_SENDER }, (_, n) => `s${i} m${n}`), `sender ${i}'s messages keep their order`);
  }
  const stored = await history(watchers[0]!.token, session.id, '?limit=100');
  t.same(stored.body.items.map((m: { id: string }) => m.id), sequences[0], 'the record holds the same order');
});

t.test('REST sends broadcast too; a resend with the same clientMsgId answers the original', async (t) => {
  const { session } = await newSession();
  const u = await a.user('attendee', { name: 'Rita Rest' });
  const watcher = await joined(b, (await b.user('attendee')).token, session.id);
  const text = '  <b>bold</b> & "quoted"  ';
  const sent = await a.call('POST', `/chat/session/${session.id}`, { token: u.token, body: { text, clientMsgId: 'c1' } });
  t.equal(sent.status, 201);
  t.match(sent.body, { sessionId: session.id, user: { id: u.id, name: 'Rita Rest' }, text, clientMsgId: 'c1', pinned: false });
  t.match(sent.body.id, /^[1-9][0-9]*$/, 'ids are decimal strings');
  const seen = await watcher.next((f) => f.type === 'chat:message');
  t.same(seen.message, sent.body, 'node B delivers exactly what A answered; the text as sent');
  const again = await b.call('POST', `/chat/session/${session.id}`, { token: u.token, body: { text: 'changed', clientMsgId: 'c1' } });
  t.equal(again.status, 200);
  t.same(again.body, sent.body, 'the original comes back');
  const marker = await a.call('POST', `/chat/session/${session.id}`, { token: u.token, body: { text: 'marker' } });
  await watcher.next((f) => f.type === 'chat:message' && f.message.id === marker.body.id);
  t.equal(chats(watcher, session.id).length, 2, 'no second broadcast for the resend');
  const sender = await joined(a, u.token, session.id);
  t.equal((await sender.request({ type: 'chat:send', sessionId: session.id, text: 'again', clientMsgId: 'c1' })).type, 'ack', 'WS resend is acknowledged');
  t.equal((await history(u.token, session.id)).body.items.length, 2);
});

t.test('history pages with after, before and limit, oldest first', async (t) => {
  const { session } = await newSession();
  const u = await a.user('attendee');
  const ids: string[] = [];
  for (let i = 1; i <= 10; i++) ids.push((await a.call('POST', `/chat/session/${session.id}`, { token: u.token, body: { text: `m${i}` } })).body.id);
  const page = (q: string) => history(u.token, session.id, q).then((r) => ({ status: r.status, ids: r.body.items?.map((m: { id: string }) => m.id), next: r.body.nextCursor }));
  t.same(await page('?limit=3'), { status: 200, ids: ids.slice(7), next: ids[7] }, 'the latest, with a cursor to scroll back');
  t.same(await page(`?before=${ids[7]}&limit=3`), { status: 200, ids: ids.slice(4, 7), next: ids[4] });
  t.same(await page(`?before=${ids[2]}&limit=3`), { status: 200, ids: ids.slice(0, 2), next: null }, 'the start of the chat');
  t.same(await page(`?after=${ids[2]}&limit=4`), { status: 200, ids: ids.slice(3, 7), next: ids[6] });
  t.same(await page(`?after=${ids[6]}&limit=4`), { status: 200, ids: ids.slice(7), next: null });
  t.same(await page(`?after=${ids[9]}`), { status: 200, ids: [], next: null });
  t.same((await page('')).ids, ids);
  for (const q of ['?after=abc', '?before=-1', '?after=1&before=5', '?limit=0', '?limit=101', '?after=01']) t.equal((await page(q)).status, 400, q);
});

t.test('a reconnecting client resyncs exactly the messages it missed', async (t) => {
  const { session } = await newSession();
  const [talker, viewer] = [await a.user('attendee'), await b.user('attendee')];
  const say = (text: string) => a.call('POST', `/chat/session/${session.id}`, { token: talker.token, body: { text } }).then((r) => r.body.id as string);
  let ws = await joined(b, viewer.token, session.id);
  for (const text of ['one', 'two', 'three']) await say(text);
  const seen = await waitFor(ws, (f) => f.type === 'chat:message', 3);
  const lastSeen = seen[seen.length - 1]!.message.id;
  ws.close();
  await ws.closed;
  const missed: string[] = [];
  for (const text of ['four', 'five', 'six', 'seven', 'eight']) missed.push(await say(text));
  ws = await joined(b, viewer.token, session.id);
  const resync = await b.call('GET', `/chat/session/${session.id}?after=${lastSeen}`, { token: viewer.token });
  t.same(resync.body.items.map((m: { id: string }) => m.id), missed, 'exactly the missed ones');
  t.same(resync.body.items.map((m: { text: string }) => m.text), ['four', 'five', 'six', 'seven', 'eight']);
  const live = await say('nine');
  // a frame of a message the resync already gave may still arrive (delivery follows the commit):
  // the protocol's rule drops what is at or below the resync's lastSeq
  const next = await ws.next((f) => f.type === 'chat:message' && f.message.seq > resync.body.lastSeq);
  t.equal(next.message.id, live, 'and live delivery carries on');
});

t.test('pins and deletions reach everyone; authors delete their own, others may not', async (t) => {
  const { session } = await newSession();
  const [author, other] = [await a.user('attendee'), await a.user('attendee')];
  const onA = await joined(a, other.token, session.id);
  const onB = await joined(b, author.token, session.id);
  const modWs = await joined(b, moderator.token, session.id);
  const post = (token: string, text: string) => a.call('POST', `/chat/session/${session.id}`, { token, body: { text } }).then((r) => r.body);
  const [m1, m2, m3] = [await post(author.token, 'first'), await post(other.token, 'second'), await post(author.token, 'third')];

  t.equal((await a.call('PATCH', `/chat/${m1.id}/pin`, { token: other.token, body: { pinned: true } })).status, 403, 'attendees may not pin');
  const pinned = await a.call('PATCH', `/chat/${m1.id}/pin`, { token: moderator.token, body: { pinned: true } });
  t.same([pinned.status, pinned.body.pinned], [200, true]);
  for (const c of [onA, onB]) t.equal((await c.next((f) => f.type === 'chat:pinned')).message.id, m1.id, 'chat:pinned reaches both nodes');
  let from = onA.frames.length;
  t.equal((await modWs.request({ type: 'chat:pin', messageId: m2.id })).type, 'ack', 'pinning another over WS');
  t.equal((await onA.next((f) => f.type === 'chat:pinned', { from })).message.id, m2.id);
  const h = await history(other.token, session.id);
  t.equal(h.body.pinned.id, m2.id, 'one pinned message per session');
  t.same(h.body.items.filter((m: { pinned: boolean }) => m.pinned).map((m: { id: string }) => m.id), [m2.id]);
  from = onB.frames.length;
  t.equal((await modWs.request({ type: 'chat:pin', messageId: m2.id, pinned: false })).type, 'ack');
  t.same((await onB.next((f) => f.type === 'chat:pinned', { from })).message, null, 'unpinned');

  t.equal((await a.call('DELETE', `/chat/${m2.id}`, { token: author.token })).status, 403, "an attendee may not delete another's message");
  t.equal((await onB.request({ type: 'chat:delete', messageId: m2.id })).code, 'forbidden', 'nor over WS');
  t.equal((await a.call('DELETE', `/chat/abc`, { token: author.token })).status, 400, 'not a message id');
  from = onA.frames.length;
  t.equal((await a.call('DELETE', `/chat/${m1.id}`, { token: author.token })).status, 204, 'the author deletes their own');
  t.same(await onA.next((f) => f.type === 'chat:deleted', { from }), { type: 'chat:deleted', sessionId: session.id, messageId: m1.id });
  t.equal((await modWs.request({ type: 'chat:delete', messageId: m2.id })).type, 'ack', 'a moderator deletes anyone’s over WS');
  for (const c of [onA, onB]) await c.next((f) => f.type === 'chat:deleted' && f.messageId === m2.id);
  t.equal((await a.call('DELETE', `/chat/${m1.id}`, { token: moderator.token })).status, 404, 'already deleted');
  t.equal((await a.call('PATCH', `/chat/${m1.id}/pin`, { token: moderator.token, body: { pinned: true } })).status, 404, 'a deleted message cannot be pinned');
  t.same((await history(other.token, session.id)).body.items.map((m: { id: string }) => m.id), [m3.id], 'deleted messages leave the history');
  t.equal((await a.call('DELETE', `/chat/999999999`, { token: moderator.token })).status, 404);
});

t.test("private events: only attendees read or write their sessions' chat", async (t) => {
  const { event, session } = await newSession({ visibility: 'private' });
  const outsider = await a.user('attendee');
  t.equal((await history(outsider.token, session.id)).status, 404);
  t.equal((await a.call('POST', `/chat/session/${session.id}`, { token: outsider.token, body: { text: 'hi' } })).status, 404);
  t.equal((await a.call('GET', `/chat/session/${session.id}/settings`, { token: outsider.token })).status, 404);
  await a.call('POST', `/events/${event.id}/attendees`, { token: admin.token, body: { userIds: [outsider.id] } });
  t.equal((await a.call('POST', `/chat/session/${session.id}`, { token: outsider.token, body: { text: 'hi' } })).status, 201, 'once added');
  t.equal((await history(outsider.token, session.id)).body.items.length, 1);
});

t.test('text: up to 500 characters, not blank, stored as sent; sending needs the room', async (t) => {
  const { session } = await newSession();
  const u = await a.user('attendee');
  const post = (text: unknown) => a.call('POST', `/chat/session/${session.id}`, { token: u.token, body: { text } });
  t.equal((await post('x'.repeat(501))).status, 400, 'over 500');
  t.equal((await post('   ')).status, 400, 'blank');
  t.equal((await post('')).status, 400, 'empty');
  t.equal((await post('😀'.repeat(250))).status, 201, '500 UTF-16 units');
  const ws = await connectWs(b.wsUrl, { token: u.token });
  clients.push(ws);
  t.equal((await ws.request({ type: 'chat:send', sessionId: session.id, text: 'hi' })).code, 'not_in_room');
  await ws.request({ type: 'session:join', sessionId: session.id });
  const long = await ws.request({ type: 'chat:send', sessionId: session.id, text: 'y'.repeat(501) });
  t.same([long.type, long.code], ['error', 'bad_request']);
  t.match(long.message, /at most 500/);
  const nul = await ws.request({ type: 'chat:send', sessionId: session.id, text: 'a\u0000b' });
  t.same([nul.type, nul.code], ['error', 'bad_request'], 'NUL refused, not a 500');
  const raw = '<script>alert(1)</script>\n  spaced  ';
  t.equal((await ws.request({ type: 'chat:send', sessionId: session.id, text: raw })).type, 'ack');
  t.equal((await ws.next((f) => f.type === 'chat:message' && f.message.text === raw)).message.text, raw);
  t.same((await history(u.token, session.id)).body.items.map((m: { text: string }) => m.text), ['😀'.repeat(250), raw]);
});

t.test('chat:send past the per-connection budget gets a visible rate_limited notice', async (t) => {
  const c = await startTestApi(t, { nodeOf: a });
  const { session } = await newSession();
  const u = await a.user('attendee');
  const ws = await joined(c, u.token, session.id);
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => ws.request({ type: 'chat:send', sessionId: session.id, text: `spam ${i}` })));
  const limited = answers.filter((f) => f.code === 'rate_limited');
  t.ok(limited.length >= 5, `${limited.length} of 20 refused`);
  t.match(limited[0]!.message, /messages too fast; wait \d+ s/);
  t.ok(limited[0]!.retryAfterSeconds >= 1);
  t.equal(answers.filter((f) => f.type === 'ack').length, (await history(u.token, session.id, '?limit=100')).body.items.length, 'only acknowledged ones were saved');
});
