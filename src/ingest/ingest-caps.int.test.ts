// Caps on RTMP connections at accept, against a real ingest: in all and per address, and on
// connections that have not published yet. Other client addresses are 127.0.0.2… (all of 127/8
// is loopback); small caps so that a test can reach them.
import t, { type Test } from 'tap';
import { freePort } from '../local/processes.js';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { connectRaw, publishCommands, type RawRtmp } from '../testing/rtmp-client.js';
import { startStack } from '../testing/stack.js';

const metricsPort = await freePort();
const stack = await startStack(t, {
  workers: 0,
  extraEnv: {
    METRICS_PORT: String(metricsPort),
    RTMP_MAX_CONNECTIONS: '6',
    RTMP_MAX_CONNECTIONS_PER_IP: '5',
    RTMP_MAX_PENDING: '4',
    RTMP_MAX_PENDING_PER_IP: '3',
  },
});
const ingest = stack.roles.find((r) => r.name === 'ingest')!;
const A = '127.0.0.1';
const [B, C, D] = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

async function refusedCount(cap: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { authorization: `Bearer ${stack.env.INTERNAL_API_KEY}` } });
  const m = new RegExp(`^onair_ingest_connections_refused_total\\{cap="${cap}"[^}]*\\} (\\S+)$`, 'm').exec(await res.text());
  return Number(m?.[1] ?? NaN);
}

/** A connection that completes the handshake and then waits: it counts as pending. */
async function idle(from: string): Promise<RawRtmp> {
  const c = await connectRaw(stack.rtmpPort, { localAddress: from });
  await c.handshake();
  return c;
}

/** Expects the ingest to destroy a connection at accept, counted under `cap` and logged with the address. */
async function expectRefused(t: Test, from: string, cap: string, setting: string) {
  const before = await refusedCount(cap);
  const c = await connectRaw(stack.rtmpPort, { localAddress: from });
  const handshake = await c.handshake().then(() => 'completed', () => 'failed');
  t.equal(handshake, 'failed', `${from}: no handshake (${cap})`);
  const closed = await Promise.race([c.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 2_000))]);
  t.ok(closed, `${from}: the connection is closed at once`);
  t.equal(await refusedCount(cap), before + 1, `counted under cap="${cap}"`);
  const line = new RegExp(`Refused an RTMP connection from ${from.replace(/\./g, '\\.')}: [^"]*\\(${setting}=`);
  await waitFor(() => line.test(ingest.output()), { what: `the log line naming ${from} and ${setting}`, timeoutMs: 3_000 });
}

async function accepted(streamId: string): Promise<void> {
  await waitFor(async () => (await stack.db.query('SELECT 1 FROM publish_sessions WHERE stream_id = $1', [streamId])).rowCount! > 0, { what: 'the publish to be accepted', timeoutMs: 5_000, intervalMs: 50 });
}

const closeAll = async (cs: RawRtmp[]) => {
  for (const c of cs) c.socket.destroy();
  await Promise.all(cs.map((c) => c.closed));
};

t.test('pending caps bite, per address and in all; a publisher from elsewhere still gets in', async (t) => {
  const held = [await idle(A), await idle(A), await idle(A)];
  await expectRefused(t, A, 'pending_per_ip', 'RTMP_MAX_PENDING_PER_IP');

  // another address is not held back by A's pending connections
  const s = await stack.createStream('from-b');
  const b = await connectRaw(stack.rtmpPort, { localAddress: B });
  await b.handshake();
  b.send(publishCommands({ app: 'live', name: s.streamKey }));
  await accepted(s.id);
  t.pass('a publisher from 127.0.0.2 is accepted while 127.0.0.1 is at its pending cap');

  held.push(await idle(C)); // 4 pending in all (A's three, C's one)
  await expectRefused(t, D, 'pending', 'RTMP_MAX_PENDING');
  await closeAll([...held, b]);

  // once A's pending connections are gone, A publishes again
  await waitFor(async () => (await stack.db.query('SELECT 1 FROM publish_sessions WHERE stream_id = $1 AND ended_at IS NULL', [s.id])).rowCount === 0, { what: 'B’s publish to end' });
  const a = await connectRaw(stack.rtmpPort, { localAddress: A });
  await a.handshake();
  a.send(publishCommands({ app: 'live', name: s.streamKey }));
  await accepted(s.id).then(() => waitFor(async () => (await stack.db.query('SELECT 1 FROM publish_sessions WHERE stream_id = $1 AND ended_at IS NULL', [s.id])).rowCount === 1, { what: 'A’s publish' }));
  t.pass('127.0.0.1 publishes again once its pending connections are gone');
  await closeAll([a]);
});

t.test('connection caps bite, per address and in all; publishing connections count too', async (t) => {
  const pubs = [];
  for (const title of ['pub-1', 'pub-2']) {
    const s = await stack.createStream(title);
    pubs.push(publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 160, height: 120, fps: 5, seconds: 60, videoKbps: 100, audio: false }));
    await accepted(s.id);
  }
  const held = [await idle(A), await idle(A), await idle(A)]; // A: 2 publishing + 3 pending = 5
  await expectRefused(t, A, 'connections_per_ip', 'RTMP_MAX_CONNECTIONS_PER_IP');
  held.push(await idle(B)); // 6 in all
  await expectRefused(t, C, 'connections', 'RTMP_MAX_CONNECTIONS');
  await closeAll(held);
  for (const p of pubs) await p.stop();
});

t.test('a flood of refused connections is counted, and logged only a few times', async (t) => {
  const held = [await idle(A), await idle(A), await idle(A)];
  const before = await refusedCount('pending_per_ip');
  const linesBefore = ingest.output().split('\n').filter((l) => l.includes('Refused an RTMP connection')).length;
  for (let i = 0; i < 50; i++) {
    const c = await connectRaw(stack.rtmpPort, { localAddress: A }).catch(() => null);
    await c?.closed;
  }
  t.equal(await refusedCount('pending_per_ip'), before + 50, 'every refusal counted');
  await new Promise((r) => setTimeout(r, 500));
  const lines = ingest.output().split('\n').filter((l) => l.includes('Refused an RTMP connection')).length - linesBefore;
  t.ok(lines <= 5, `${lines} log lines for 50 refusals`);
  await closeAll(held);
});
