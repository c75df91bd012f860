// Redis goes down under a live API node and comes back: senders get a clear `unavailable` error
// at once and nothing is half-saved; service resumes by itself when Redis returns. The node has
// a Redis of its own here (the shared test Redis must stay up for the other files).
import { spawn, type ChildProcess } from 'node:child_process';
import t from 'tap';
import { freePort } from '../local/processes.js';
import { startTestApi } from '../testing/api.js';
import { waitFor } from '../testing/harness.js';
import { connectWs } from '../testing/ws.js';

const port = await freePort();
let redis: ChildProcess | null = null;
async function startRedis() {
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor(async () => {
    const { Redis } = await import('ioredis');
    const r = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      return (await r.ping()) === 'PONG';
    } finally {
      r.disconnect();
    }
  }, { what: 'redis-server', timeoutMs: 10_000 });
}
async function stopRedis() {
  const r = redis!;
  redis = null;
  const exited = new Promise((res) => r.once('exit', res));
  r.kill('SIGKILL');
  await exited;
}
await startRedis();
t.teardown(() => redis?.kill('SIGKILL'));

const api = await startTestApi(t, { redisUrl: `redis://127.0.0.1:${port}` });
const admin = await api.user('admin');
const HOUR = 3_600_000;
const at = (h: number) => new Date(Date.now() + h * HOUR).toISOString();
const event = (await api.call('POST', '/events', { token: admin.token, body: { title: 'Outage', startsAt: at(-1), endsAt: at(3), status: 'published' } })).body;
const session = (await api.call('POST', `/events/${event.id}/sessions`, { token: admin.token, body: { title: 'Main', startsAt: at(-1), endsAt: at(2) } })).body;

t.test('Redis down: a clear error at once; Redis back: service resumes by itself', async (t) => {
  const [u1, u2] = [await api.user('attendee'), await api.user('attendee')];
  const sender = await connectWs(api.wsUrl, { token: u1.token });
  const watcher = await connectWs(api.wsUrl, { token: u2.token });
  t.teardown(() => [sender, watcher].forEach((c) => c.close()));
  for (const c of [sender, watcher]) t.equal((await c.request({ type: 'session:join', sessionId: session.id })).type, 'ack');

  const late = await api.user('attendee'); // signing in needs Redis (login throttling fails closed)
  await stopRedis();
  const started = Date.now();
  const refused = await sender.request({ type: 'typing', sessionId: session.id });
  t.same([refused.type, refused.code], ['error', 'unavailable']);
  t.match(refused.message, /unavailable/);
  t.ok(Date.now() - started < 3000, 'refused at once, not after a hang');
  t.equal(sender.ws.readyState, sender.ws.OPEN, 'the socket stays up');
  const joiner = await connectWs(api.wsUrl, { token: late.token });
  t.teardown(() => joiner.close());
  t.equal((await joiner.request({ type: 'session:join', sessionId: session.id })).type, 'ack', 'joining a room still works (presence catches up later)');
  const health = await api.call('GET', '/health');
  t.same([health.status, health.body.redis], [503, false], 'health says which service is down');

  await startRedis();
  // the same sockets work again once the node has reconnected and resubscribed
  const back = await waitFor(async () => {
    const from = watcher.frames.length;
    const r = await sender.request({ type: 'typing', sessionId: session.id });
    if (r.type !== 'ack') return null;
    return watcher.next((f) => f.type === 'typing', { from, timeoutMs: 1000 }).catch(() => null);
  }, { what: 'typing to flow again', timeoutMs: 20_000, intervalMs: 2100 });
  t.equal(back.user.id, u1.id, 'delivered again after Redis returned');
  t.equal((await api.call('GET', '/health')).status, 200);
  await watcher.next((f) => f.type === 'viewers:count' && f.count === 3, { timeoutMs: 10_000 });
  t.pass('the viewer who joined during the outage is counted once Redis is back');
});
