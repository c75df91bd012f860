// Per-user flood limits in Redis: one budget per user across API nodes, REST and WebSocket;
// refusals are 429 `rate_limited` with retryAfterSeconds (REST: body + Retry-After; WS: error
// frame); checked before any query; Redis unreachable → `unavailable`. The windows here are long
// (30 s and more) so the counts do not depend on how fast this machine is.
import t, { type Test } from 'tap';
import { createEventsService } from '../events/service.js';
import { freePort } from '../local/processes.js';
import { silentLog } from '../log.js';
import type { Bus } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { principalOf, startTestApi, type Answer } from '../testing/api.js';
import { joinedSession, type Frame, type WsClient } from '../testing/ws.js';
import { createRateLimiters } from './rate-limits.js';

const env = {
  RATE_LIMIT_CHAT: '5/30s+5/60s', // 10 at once, then nothing for the test's lifetime
  RATE_LIMIT_QUESTION: '2/60s',
  RATE_LIMIT_UPVOTE: '2/60s',
  RATE_LIMIT_VOTE: '2/60s+1/60s',
  RATE_LIMIT_TYPING: '1/60s',
  RATE_LIMIT_JOIN: '2/60s',
  RATE_LIMIT_IMPORT: '1/60s',
  RATE_LIMIT_HOLD_MS: '0', // the refusal hold has its own test below
};
const a = await startTestApi(t, { env });
const b = await startTestApi(t, { nodeOf: a });
const admin = await a.user('admin');
const { event, session } = await a.liveSession(admin.token);

const clients: WsClient[] = [];
t.teardown(() => clients.forEach((c) => c.close()));
const socket = async (url: string, token: string) => {
  const c = await joinedSession(url, token, session.id);
  clients.push(c);
  return c;
};

/** A REST refusal says the same thing three times: status, Retry-After, and the problem body. */
function isRateLimited(t: Test, r: Answer, what: RegExp) {
  t.equal(r.status, 429, 'REST: 429');
  t.equal(r.body.code, 'rate_limited');
  t.match(r.body.detail, what);
  t.ok(Number.isInteger(r.body.retryAfterSeconds) && r.body.retryAfterSeconds >= 1, `retryAfterSeconds in the body (${r.body.retryAfterSeconds})`);
  t.equal(r.headers.get('retry-after'), String(r.body.retryAfterSeconds), 'and the same in Retry-After');
}
function isRateLimitedFrame(t: Test, f: Frame, what: RegExp) {
  t.same(Object.keys(f).sort(), ['code', 'id', 'message', 'retryAfterSeconds', 'type'], 'WS: {type, id, code, message, retryAfterSeconds}');
  t.same([f.type, f.code], ['error', 'rate_limited']);
  t.match(f.message, what);
  t.ok(Number.isInteger(f.retryAfterSeconds) && f.retryAfterSeconds >= 1);
}

t.test('chat: one budget per user over REST and two sockets on two nodes', async (t) => {
  const u = await a.user('attendee');
  const onA = await socket(a.wsUrl, u.token);
  const onB = await socket(b.wsUrl, u.token);
  const send = (i: number) => {
    const text = `m${i}`;
    if (i % 3 === 0) return a.call('POST', `/chat/session/${session.id}`, { token: u.token, body: { text } }).then((r) => ({ ok: r.status === 201, rest: r, frame: null }));
    if (i % 3 === 1) return b.call('POST', `/chat/session/${session.id}`, { token: u.token, body: { text } }).then((r) => ({ ok: r.status === 201, rest: r, frame: null }));
    return (i % 2 ? onA : onB).request({ type: 'chat:send', sessionId: session.id, text }).then((f) => ({ ok: f.type === 'ack', rest: null, frame: f }));
  };
  // 8 per door: under each socket's own burst (10), so every refusal here is the per-user one
  const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => send(i)));
  const accepted = answers.filter((x) => x.ok).length;
  t.equal(accepted, 10, 'exactly the burst (5 + 5 in reserve) accepted across both nodes and all doors');
  const stored = await a.call('GET', `/chat/session/${session.id}?limit=100`, { token: admin.token });
  t.equal(stored.body.items.filter((m: { user: { id: string } }) => m.user.id === u.id).length, 10, 'and only those were saved');
  const restRefused = answers.filter((x) => x.rest && !x.ok);
  const wsRefused = answers.filter((x) => x.frame && !x.ok);
  t.ok(restRefused.length > 0 && wsRefused.length > 0, `refused over REST (${restRefused.length}) and WebSocket (${wsRefused.length})`);
  for (const x of restRefused) isRateLimited(t, x.rest!, /sending messages too fast; wait \d+ s/);
  for (const x of wsRefused) isRateLimitedFrame(t, x.frame!, /sending messages too fast; wait \d+ s/);
  // someone else is not affected
  const other = await a.user('attendee');
  t.equal((await b.call('POST', `/chat/session/${session.id}`, { token: other.token, body: { text: 'hello' } })).status, 201, 'another user still chats');
});

t.test('the limit is checked before any lookup: a spent budget refuses even a missing session', async (t) => {
  const u = await a.user('attendee');
  const missing = '00000000-0000-4000-8000-000000000000';
  const first = await Promise.all(Array.from({ length: 10 }, () => a.call('POST', `/chat/session/${missing}`, { token: u.token, body: { text: 'x' } })));
  t.same([...new Set(first.map((r) => r.status))], [404], 'within the budget: 404');
  isRateLimited(t, await a.call('POST', `/chat/session/${missing}`, { token: u.token, body: { text: 'x' } }), /messages too fast/);
});

t.test('questions, upvotes and votes refuse past their limits, REST and WebSocket together', async (t) => {
  const u = await a.user('attendee');
  const ws = await socket(b.wsUrl, u.token);
  t.equal((await a.call('POST', `/questions/session/${session.id}`, { token: u.token, body: { text: 'q1' } })).status, 201);
  t.equal((await ws.request({ type: 'question:ask', sessionId: session.id, text: 'q2' })).type, 'ack');
  isRateLimited(t, await a.call('POST', `/questions/session/${session.id}`, { token: u.token, body: { text: 'q3' } }), /questions too fast/);
  isRateLimitedFrame(t, await ws.request({ type: 'question:ask', sessionId: session.id, text: 'q4' }), /questions too fast/);

  const asker = await a.user('attendee');
  const qs = [];
  for (let i = 0; i < 2; i++) qs.push((await a.call('POST', `/questions/session/${session.id}`, { token: asker.token, body: { text: `ask ${i}` } })).body.id as string);
  t.equal((await a.call('POST', `/questions/${qs[0]}/upvote`, { token: u.token })).status, 200);
  t.equal((await ws.request({ type: 'question:upvote', questionId: qs[1] })).type, 'ack');
  isRateLimited(t, await b.call('POST', `/questions/${qs[0]}/upvote`, { token: u.token }), /upvotes too fast/);
  isRateLimitedFrame(t, await ws.request({ type: 'question:upvote', questionId: qs[1] }), /upvotes too fast/);

  const poll = (await a.call('POST', '/polls', { token: admin.token, body: { sessionId: session.id, question: 'Ready?', options: ['Yes', 'No'] } })).body;
  const [yes, no] = poll.options.map((o: { id: string }) => o.id);
  t.equal((await a.call('POST', `/polls/${poll.id}/vote`, { token: u.token, body: { optionId: yes } })).status, 200);
  t.equal((await b.call('POST', `/polls/${poll.id}/vote`, { token: u.token, body: { optionId: no } })).status, 200);
  t.equal((await ws.request({ type: 'poll:vote', pollId: poll.id, optionId: yes })).type, 'ack', 'the burst reserve (1) is used after the rate (2)');
  isRateLimited(t, await a.call('POST', `/polls/${poll.id}/vote`, { token: u.token, body: { optionId: no } }), /votes too fast/);
  isRateLimitedFrame(t, await ws.request({ type: 'poll:vote', pollId: poll.id, optionId: no }), /votes too fast/);
});

t.test('typing: one socket is coalesced silently, the user across sockets and nodes is limited', async (t) => {
  const u = await a.user('attendee');
  const one = await socket(a.wsUrl, u.token);
  const two = await socket(b.wsUrl, u.token);
  const watcher = await socket(a.wsUrl, admin.token);
  t.equal((await one.request({ type: 'typing', sessionId: session.id })).type, 'ack');
  t.equal((await one.request({ type: 'typing', sessionId: session.id })).type, 'ack', 'the same socket again within 2 s: dropped without an error');
  isRateLimitedFrame(t, await two.request({ type: 'typing', sessionId: session.id }), /typing notices too fast/);
  await watcher.next((f) => f.type === 'typing' && f.user.id === u.id);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(watcher.frames.filter((f) => f.type === 'typing' && f.user.id === u.id).length, 1, 'one typing notice relayed');
});

t.test('event joins are limited per user', async (t) => {
  const u = await a.user('attendee');
  const events = [event.id, (await a.liveSession(admin.token)).event.id, (await a.liveSession(admin.token)).event.id];
  t.equal((await a.call('POST', `/events/${events[0]}/join`, { token: u.token })).status, 201);
  t.equal((await b.call('POST', `/events/${events[1]}/join`, { token: u.token })).status, 201);
  isRateLimited(t, await a.call('POST', `/events/${events[2]}/join`, { token: u.token }), /event joins too fast/);
  t.equal((await a.call('POST', `/events/${events[2]}/join`, { token: (await a.user('attendee')).token })).status, 201, 'another user still joins');
});

t.test('user imports are limited per admin', async (t) => {
  const csv = (n: string) => ({ raw: `email,name\nimp-${n}@example.com,Imported ${n}\n`, type: 'text/csv' });
  t.equal((await a.call('POST', '/users/import', { token: admin.token, ...csv('a') })).status, 200);
  const refused = await b.call('POST', '/users/import', { token: admin.token, ...csv('b') });
  isRateLimited(t, refused, /imports too fast/);
  t.equal((await a.pool.query(`SELECT 1 FROM users WHERE email = 'imp-b@example.com'`)).rowCount, 0, 'nothing imported');
  const other = await a.user('admin');
  t.equal((await a.call('POST', '/users/import', { token: other.token, ...csv('c') })).status, 200, 'another admin still imports');
});

t.test('Redis unreachable: the limited actions answer unavailable at once, nothing is done', async (t) => {
  // a node's limiters on a Redis that is not there (the node's other Redis users are not under test here)
  const dead = createRedis({ url: `redis://127.0.0.1:${await freePort()}`, log: silentLog(), purpose: 'test-dead' });
  t.teardown(() => dead.disconnect());
  const limits = createRateLimiters({ redis: dead, prefix: a.config.redisPrefix, limits: a.config.rateLimits, log: silentLog() });
  const events = createEventsService({ db: a.pool, bus: undefined as unknown as Bus /* events publish nothing */, log: silentLog(), config: a.config, rateLimits: limits });
  const u = await a.user('attendee');
  const other = (await a.liveSession(admin.token)).event.id;
  const started = Date.now();
  await t.rejects(events.join(principalOf({ id: u.id, role: 'attendee' }), other), { status: 503, code: 'unavailable' });
  t.ok(Date.now() - started < 2_000, 'refused without waiting for Redis');
  t.equal((await a.pool.query('SELECT 1 FROM event_attendees WHERE event_id = $1', [other])).rowCount, 0, 'not joined');
  await t.rejects(limits.take({ ip: '192.0.2.1' }, 'join'), { status: 503, code: 'unavailable' });
  // issue 10: chat needs only Postgres now, so its budget is counted in this node's memory meanwhile
  const points = a.config.rateLimits.chat.points + (a.config.rateLimits.chat.burst?.points ?? 0);
  for (let i = 0; i < points; i++) await limits.take({ ip: '192.0.2.1' }, 'chat');
  await t.rejects(limits.take({ ip: '192.0.2.1' }, 'chat'), { status: 429, code: 'rate_limited' }, 'the same budget, counted on this node');
});

t.test('the per-connection buckets and the per-user limit refuse with one code and one frame shape', async (t) => {
  // a node whose sockets allow one chat message each (the first wall), on the same Redis budget
  const tight = await startTestApi(t, { nodeOf: a, limits: { all: { burst: 100, perSecond: 100 }, 'chat:send': { burst: 1, perSecond: 0.01 } } });
  const u = await a.user('attendee');
  const ws = await socket(tight.wsUrl, u.token);
  t.equal((await ws.request({ type: 'chat:send', sessionId: session.id, text: 'one' })).type, 'ack');
  const perConnection = await ws.request({ type: 'chat:send', sessionId: session.id, text: 'two' });
  isRateLimitedFrame(t, perConnection, /^You are sending messages too fast; wait \d+ s\.$/);
  t.ok(perConnection.retryAfterSeconds >= 50, `the bucket's own wait (${perConnection.retryAfterSeconds} s)`);
  // the same user's budget, spent from REST, refused on another socket by the per-user limit
  for (let i = 0; i < 9; i++) await a.call('POST', `/chat/session/${session.id}`, { token: u.token, body: { text: `r${i}` } });
  const other = await socket(a.wsUrl, u.token);
  const perUser = await other.request({ type: 'chat:send', sessionId: session.id, text: 'three' });
  isRateLimitedFrame(t, perUser, /^You are sending messages too fast; wait \d+ s\.$/);
  t.same(Object.keys(perUser).sort(), Object.keys(perConnection).sort(), 'the same keys');
  const rest = await a.call('POST', `/chat/session/${session.id}`, { token: u.token, body: { text: 'four' } });
  isRateLimited(t, rest, /^You are sending messages too fast; wait \d+ s\.$/);
});

t.test('refusals are held (REST answers late, a socket is not read): a flood on many connections slows to a trickle', async (t) => {
  const held = await startTestApi(t, { env: { RATE_LIMIT_CHAT: '1/60s', RATE_LIMIT_HOLD_MS: '2000' } });
  const boss = await held.user('admin');
  const live = await held.liveSession(boss.token);
  const u = await held.user('attendee');
  const post = () => held.call('POST', `/chat/session/${live.session.id}`, { token: u.token, body: { text: 'x' } });
  t.equal((await post()).status, 201);
  let started = Date.now();
  isRateLimited(t, await post(), /messages too fast/);
  t.ok(Date.now() - started >= 900, `the 429 came after its hold (${Date.now() - started} ms; 1 to 3 s)`);
  // ten connections in a closed loop for 3 s: each waits out every refusal
  let requests = 0;
  const until = Date.now() + 3_000;
  await Promise.all(Array.from({ length: 10 }, async () => {
    while (Date.now() < until) (await post(), requests++);
  }));
  t.ok(requests <= 40, `${requests} requests from 10 connections in 3 s (at most one per hold each)`);

  const ws = await joinedSession(held.wsUrl, u.token, live.session.id);
  clients.push(ws);
  isRateLimitedFrame(t, await ws.request({ type: 'chat:send', sessionId: live.session.id, text: 'y' }), /messages too fast/);
  started = Date.now();
  const next = await ws.request({ type: 'session:leave', sessionId: live.session.id }, 10_000);
  t.equal(next.type, 'ack');
  t.ok(Date.now() - started >= 900, `the socket's next frame was read after the hold (${Date.now() - started} ms)`);

  // a socket flooding past its pending frames is told once (busy); what it sent on is dropped
  // unanswered, and past 256 such frames the socket is closed (1008)
  const flood = await joinedSession(held.wsUrl, (await held.user('attendee')).token, live.session.id);
  clients.push(flood);
  const from = flood.frames.length;
  for (let i = 0; i < 200; i++) flood.send({ type: 'session:leave', sessionId: live.session.id, id: `x${i}` });
  await new Promise((r) => setTimeout(r, 3_000));
  const answers = flood.frames.slice(from);
  const busy = answers.filter((f) => f.code === 'busy').length;
  t.ok(busy >= 1 && busy < 10, `${busy} busy answer(s) for ${answers.length} answers to 200 frames`);
  t.ok(answers.length < 150, 'most of the backlog dropped unanswered');
  t.equal(flood.ws.readyState, flood.ws.OPEN, 'the socket stays up below the flood mark');
  for (let i = 0; i < 1_000; i++) flood.send({ type: 'session:leave', sessionId: live.session.id, id: `y${i}` });
  t.same((await flood.closed).code, 1008, 'a socket that keeps sending is closed as a flood');
});
