// `stream:status`: a socket joining a session room is told the state of its broadcast right after
// its ack, and every transition of the stream (starting, live, offline) reaches the session's room
// on every API node — here a viewer on the stack's api and one on a second api process.
import t from 'tap';
import { freePort } from '../local/processes.js';
import { publishTestPattern, spawnRole, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { connectWs, type Frame, type WsClient } from '../testing/ws.js';

const stack = await startStack(t, { workers: 1 });
const portB = await freePort();
spawnRole(t, 'api', { ...stack.env, PORT: String(portB), INSTANCE_ID: 'api-b' }, 'api-b');
await waitFor(() => fetch(`http://127.0.0.1:${portB}/api/health`).then((r) => r.ok, () => false), { what: 'the second API node', timeoutMs: 20_000 });

const viewerToken = (await stack.user('Viewer')).token;

t.test('a joining socket gets the broadcast’s state after its ack; every transition reaches the room on both nodes', async (t) => {
  const s = await stack.createStream('status frames');
  const { session } = await stack.liveSessionOn(s.id, 'Status frames');
  const sockets: WsClient[] = [await connectWs(`ws://127.0.0.1:${stack.apiPort}/ws`, { token: viewerToken }), await connectWs(`ws://127.0.0.1:${portB}/ws`, { token: stack.token })];
  t.teardown(() => sockets.forEach((w) => w.close()));
  for (const ws of sockets) {
    const ack = await ws.request({ type: 'session:join', sessionId: session.id });
    t.equal(ack.type, 'ack');
    const ackAt = ws.frames.indexOf(ack);
    const first = await ws.next((f) => f.type === 'stream:status', { from: ackAt });
    t.same(first, { type: 'stream:status', sessionId: session.id, status: 'offline', renditions: [] }, 'offline before anyone publishes, right after the ack');
  }

  const statuses = (ws: WsClient) => ws.frames.filter((f) => f.type === 'stream:status' && f.sessionId === session.id);
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 500 });
  for (const ws of sockets) {
    const live = await ws.next((f) => f.type === 'stream:status' && f.status === 'live', { timeoutMs: 40_000 });
    t.same(live.renditions, [{ name: '360p', width: 640, height: 360 }], 'live, with its renditions');
    t.ok(!Number.isNaN(Date.parse(live.startedAt)), 'and when the broadcast began');
    t.ok(statuses(ws).some((f: Frame) => f.status === 'starting'), 'starting came first');
  }
  // a socket joining now is told it is live at once
  const late = await connectWs(`ws://127.0.0.1:${portB}/ws`, { token: viewerToken });
  t.teardown(() => late.close());
  const ack = await late.request({ type: 'session:join', sessionId: session.id });
  t.equal((await late.next((f) => f.type === 'stream:status', { from: late.frames.indexOf(ack) })).status, 'live', 'a late joiner learns it is live');

  await pub.stop();
  for (const ws of [...sockets, late]) {
    const liveAt = ws.frames.findIndex((f) => f.type === 'stream:status' && f.status === 'live');
    const ended = await ws.next((f) => f.type === 'stream:status' && f.status === 'offline', { from: liveAt, timeoutMs: 30_000 });
    t.same(ended.renditions, [], 'offline once the publisher left');
  }
});

t.test('a stream deleted while live (DELETE ?force=true) still tells its session room it is offline', async (t) => {
  const s = await stack.createStream('deleted while live');
  const { session } = await stack.liveSessionOn(s.id, 'Deleted while live');
  const ws = await connectWs(`ws://127.0.0.1:${portB}/ws`, { token: viewerToken });
  t.teardown(() => ws.close());
  await ws.request({ type: 'session:join', sessionId: session.id });
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 500 });
  await ws.next((f) => f.type === 'stream:status' && f.status === 'live', { timeoutMs: 40_000 });
  t.equal((await stack.api('DELETE', `/streams/${s.id}?force=true`, undefined, stack.token)).status, 204);
  const liveAt = ws.frames.findIndex((f) => f.type === 'stream:status' && f.status === 'live');
  const ended = await ws.next((f) => f.type === 'stream:status' && f.status === 'offline', { from: liveAt, timeoutMs: 20_000 });
  t.same(ended, { type: 'stream:status', sessionId: session.id, status: 'offline', renditions: [] });
});
