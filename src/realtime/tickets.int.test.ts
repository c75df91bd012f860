// WebSocket tickets on two API nodes sharing Postgres and Redis: a browser's way to open /ws
// without its token in the URL. One use, 30 s, bound to the device session that asked for it.
import t from 'tap';
import { createRedis } from '../redis/connection.js';
import { silentLog } from '../log.js';
import { startTestApi } from '../testing/api.js';
import { testEnv } from '../testing/harness.js';
import { connectWs } from '../testing/ws.js';

const a = await startTestApi(t);
const b = await startTestApi(t, { nodeOf: a });
const admin = await a.user('admin');
const { session } = await a.liveSession(admin.token);
const redis = createRedis({ url: testEnv().redisUrl, log: silentLog(), purpose: 'test-tickets' });
t.teardown(() => redis.disconnect());
const ticketKeys = () => redis.keys(`${a.config.redisPrefix}:ws-ticket:*`);

async function ticketFor(token: string, node = a) {
  const r = await node.call('POST', '/realtime/ticket', { token });
  if (r.status !== 200) throw new Error(`ticket → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as { ticket: string; expiresAt: string };
}

t.test('a ticket opens one socket, as its user, once', async (t) => {
  const u = await a.user('attendee', { name: 'Tia Ticket' });
  const before = Date.now();
  const { ticket, expiresAt } = await ticketFor(u.token);
  t.match(ticket, /^wst_[A-Za-z0-9_-]{32}$/);
  const left = Date.parse(expiresAt) - before;
  t.ok(left > 25_000 && left <= 31_000, `valid for about 30 s (${left} ms)`);
  const ws = await connectWs(a.wsUrl, { ticket });
  t.teardown(() => ws.close());
  t.equal((await ws.request({ type: 'session:join', sessionId: session.id })).type, 'ack');
  t.equal((await ws.request({ type: 'chat:send', sessionId: session.id, text: 'hello by ticket' })).type, 'ack');
  const mine = await ws.next((f) => f.type === 'chat:message' && f.message.text === 'hello by ticket');
  t.equal(mine.message.user.id, u.id, "the socket speaks as the ticket's user");
  t.equal(mine.message.user.name, 'Tia Ticket');
  await t.rejects(connectWs(a.wsUrl, { ticket }), { message: /upgrade refused: 401/ }, 'the second use is refused');
  await t.rejects(connectWs(b.wsUrl, { ticket }), { message: /upgrade refused: 401/ }, 'on the other node too');
});

t.test('a ticket issued by one node works on the other, once across both', async (t) => {
  const u = await a.user('attendee');
  const { ticket } = await ticketFor(u.token, a);
  // both nodes race for the same ticket: exactly one wins
  const tries = await Promise.allSettled([connectWs(b.wsUrl, { ticket }), connectWs(a.wsUrl, { ticket }), connectWs(b.wsUrl, { ticket })]);
  const won = tries.filter((r) => r.status === 'fulfilled');
  t.equal(won.length, 1, 'one socket opened');
  for (const r of tries) if (r.status === 'rejected') t.match((r.reason as Error).message, /upgrade refused: 401/);
  const ws = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof connectWs>>>).value;
  t.teardown(() => ws.close());
  t.equal((await ws.request({ type: 'session:join', sessionId: session.id })).type, 'ack');
  const other = await ticketFor(u.token, b);
  const onA = await connectWs(a.wsUrl, { ticket: other.ticket });
  onA.close();
  t.pass("node B's ticket opened a socket on node A");
});

t.test('an expired ticket is refused', async (t) => {
  const u = await a.user('attendee');
  const { ticket } = await ticketFor(u.token);
  const keys = await ticketKeys();
  t.ok(keys.length >= 1, 'kept in Redis');
  for (const k of keys) {
    const ttl = await redis.pttl(k);
    t.ok(ttl > 0 && ttl <= 30_000, `expires within 30 s in Redis (${ttl} ms)`);
    await redis.pexpire(k, 1); // let 30 s pass
  }
  await new Promise((r) => setTimeout(r, 50));
  await t.rejects(connectWs(b.wsUrl, { ticket }), { message: /upgrade refused: 401/ });
});

t.test('signing out ends unused tickets: the socket is refused', async (t) => {
  const u = await a.user('attendee');
  const second = await a.login(u.email, u.password);
  const revoked = await ticketFor(u.token);
  const kept = await ticketFor(second);
  const me = (await a.call('GET', '/auth/me', { token: u.token })).body;
  t.equal((await b.call('DELETE', `/auth/devices/${me.deviceId}`, { token: second })).status, 204);
  await t.rejects(connectWs(a.wsUrl, { ticket: revoked.ticket }), { message: /upgrade refused: 401/ }, "the revoked device's ticket");
  const ws = await connectWs(b.wsUrl, { ticket: kept.ticket });
  t.pass("the other device's ticket still works");
  t.equal((await a.call('POST', '/auth/logout', { token: second })).status, 204);
  t.equal((await ws.closed).code, 4401, 'and its socket closes when that device signs out');
});

t.test('forged tickets, tokens in the URL and anonymous askers are refused', async (t) => {
  const u = await a.user('attendee');
  await t.rejects(connectWs(a.wsUrl, { ticket: 'wst_' + 'A'.repeat(32) }), { message: /upgrade refused: 401/ }, 'never issued');
  await t.rejects(connectWs(a.wsUrl, { ticket: u.token }), { message: /upgrade refused: 401/ }, 'a token is not a ticket');
  await t.rejects(connectWs(`${a.wsUrl}?token=${encodeURIComponent(u.token)}`), { message: /upgrade refused: 401/ }, 'the token in the URL is no longer accepted');
  t.equal((await a.call('POST', '/realtime/ticket')).status, 401, 'a ticket needs a sign-in');
  const byHeader = await connectWs(a.wsUrl, { token: u.token });
  byHeader.close();
  t.pass('the bearer header still works for non-browser clients');
});
