// Two real api processes behind one nginx, sharing Postgres and Redis: viewers spread over both
// nodes (directly and through nginx) chat in one order, count each other, vote with exact
// totals; a node that dies takes only its own sockets, and its viewers age out of the count.
import path from 'node:path';
import t from 'tap';
import { freePort } from '../local/processes.js';
import { hashPassword } from '../auth/passwords.js';
import { randomId, spawnRole, startTestNginx, testDatabase, testDir, testEnv, waitFor } from '../testing/harness.js';
import { connectWs, type WsClient } from '../testing/ws.js';

const { redisUrl } = testEnv();
const { url, pool } = await testDatabase(t);
const dataDir = testDir('two-nodes');
const [portA, portB] = [await freePort(), await freePort()];
const env = { DATABASE_URL: url, REDIS_URL: redisUrl, REDIS_PREFIX: `t${randomId()}`, JWT_SECRET: randomId(24), PLAYBACK_SECRET: randomId(24), DATA_DIR: dataDir, MEDIA_DIR: path.join(dataDir, 'media'), LOG_LEVEL: 'warn' };
const nodeA = spawnRole(t, 'api', { ...env, PORT: String(portA), INSTANCE_ID: 'api-a' }, 'api-a');
spawnRole(t, 'api', { ...env, PORT: String(portB), INSTANCE_ID: 'api-b' }, 'api-b');
const httpPort = await startTestNginx(t, { dataDir, mediaDir: env.MEDIA_DIR, apiPort: [portA, portB], playbackSecret: env.PLAYBACK_SECRET });
const base = `http://127.0.0.1:${httpPort}`;
for (const port of [portA, portB]) await waitFor(() => fetch(`http://127.0.0.1:${port}/api/health`).then((r) => r.ok, () => false), { what: `api on ${port}` });

async function api(method: string, p: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}/api${p}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}
const hash = await hashPassword('two-nodes-password');
async function user(role: string, name: string) {
  const email = `${name.toLowerCase()}-${randomId()}@example.com`;
  await pool.query(`INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)`, [email, name, role, hash]);
  return (await api('POST', '/auth/login', { email, password: 'two-nodes-password' })).body as { token: string; user: { id: string } };
}

const admin = await user('admin', 'Admin');
const at = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
const event = (await api('POST', '/events', { title: 'Two nodes', startsAt: at(-1), endsAt: at(3), status: 'published' }, admin.token)).body;
const session = (await api('POST', `/events/${event.id}/sessions`, { title: 'Main', startsAt: at(-1), endsAt: at(2) }, admin.token)).body;
const names = ['Ann', 'Ben', 'Cid', 'Dot', 'Eve', 'Fay'];
const people = await Promise.all(names.map((n) => user('attendee', n)));
for (const p of people) if ((await api('POST', `/events/${event.id}/join`, undefined, p.token)).status !== 201) throw new Error('join failed');
// two on node A, two on node B, two through nginx (which spreads them)
const urls = [portA, portA, portB, portB, httpPort, httpPort].map((p) => `ws://127.0.0.1:${p}/ws`);
const clients: WsClient[] = await Promise.all(people.map((p, i) => connectWs(urls[i]!, { token: p.token })));
t.teardown(() => clients.forEach((c) => c.close()));
for (const c of clients) if ((await c.request({ type: 'session:join', sessionId: session.id })).type !== 'ack') throw new Error('session:join failed');

t.test('everyone on both nodes is counted, once each', async (t) => {
  for (const c of clients) await c.next((f) => f.type === 'viewers:count' && f.count === 6, { timeoutMs: 5000 });
  t.pass('6 watching, on every socket');
});

t.test('chat from both nodes arrives in one order everywhere', async (t) => {
  const senders = [clients[0]!, clients[2]!, clients[4]!];
  await Promise.all(senders.map(async (c, s) => {
    for (let i = 0; i < 10; i++) t.equal((await c.request({ type: 'chat:send', sessionId: session.id, text: `m${s}-${i}`, clientMsgId: `${s}-${i}` })).type, 'ack');
  }));
  const orders = await Promise.all(clients.map(async (c) => {
    await waitFor(() => c.frames.filter((f) => f.type === 'chat:message').length >= 30, { what: 'all 30 messages' });
    return c.frames.filter((f) => f.type === 'chat:message').map((f) => f.message.id as string);
  }));
  for (const o of orders) t.same(o, orders[0], 'same order');
  t.same([...orders[0]!].sort((x, y) => Number(x) - Number(y)), orders[0], 'in id order');
  const history = (await api('GET', `/chat/session/${session.id}?limit=100`, undefined, people[5]!.token)).body;
  t.same(history.items.map((m: { id: string }) => m.id), orders[0], 'the same order as the history');
});

t.test('votes from both nodes add up exactly', async (t) => {
  const poll = (await api('POST', '/polls', { sessionId: session.id, question: 'Lunch?', options: ['pizza', 'soup'] }, admin.token)).body;
  await Promise.all(clients.map((c) => c.next((f) => f.type === 'poll:new' && f.poll.id === poll.id)));
  await Promise.all(clients.map((c, i) => c.request({ type: 'poll:vote', pollId: poll.id, optionId: poll.options[i % 3 === 0 ? 1 : 0].id })));
  for (const c of clients) {
    const last = await c.next((f) => f.type === 'poll:vote' && f.poll.totalVotes === 6, { timeoutMs: 5000 });
    t.same(last.poll.options.map((o: { votes: number }) => o.votes), [4, 2]);
  }
});

t.test('a node that dies takes only its own sockets; its viewers age out of the count', async (t) => {
  nodeA.kill('SIGKILL');
  await nodeA.exited;
  await clients[0]!.closed;
  await clients[1]!.closed;
  t.equal(clients[2]!.ws.readyState, clients[2]!.ws.OPEN, 'node B sockets stay');
  await clients[2]!.next((f) => f.type === 'viewers:count' && f.count <= 4, { timeoutMs: 25_000, from: clients[2]!.frames.length });
  t.pass("node A's viewers left the count within the presence lifetime");
  t.equal((await clients[2]!.request({ type: 'chat:send', sessionId: session.id, text: 'still here' })).type, 'ack', 'node B keeps serving');
});
