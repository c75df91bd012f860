// The collector's edges: what counts as one of nginx's lines, and that nothing is lost while
// Redis or Postgres is away (the batch waits for the next flush).
import { randomUUID } from 'node:crypto';
import t from 'tap';
import type { Db } from '../db/pool.js';
import { silentLog } from '../log.js';
import { createCollector, parseViewerDatagram, parseViewerLine } from './collector.js';
import { datagrams } from './forwarder.js';
import { createLineSessions, SESSION_CACHE_MAX } from './line-sessions.js';
import { viewerId } from './playback.js';
import type { Signals, ViewerLine } from './signals.js';

const S = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const U = '0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3';
const E = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const TAG = 'abcdef0123456789abcdef0123456789';
const RID = '0123456789abcdef0123456789abcdef';
const line = (o: { path?: string; vid?: string; at?: string; rid?: string } = {}) =>
  `v1 ${o.at ?? '1795314532.160'} ${o.vid ?? viewerId(S, U)} 200 5000 ${o.path ?? '360p/s1.ts'} ${o.rid ?? RID}`;
const datagram = (lines: string[], tag = TAG) => Buffer.from(`onair-viewers ${tag}\n${lines.join('\n')}\n`);

t.test('nginx viewer lines are parsed; anything else is refused', async (t) => {
  t.same(parseViewerLine(line()), { at: 1795314532160, sessionId: S, userId: U, rendition: '360p', bytes: 5000, segment: true, requestId: RID });
  t.match(parseViewerLine(line({ path: 'master.m3u8' })), { rendition: 'master', segment: false });
  t.match(parseViewerLine(line({ path: '720p/index.m3u8' })), { rendition: '720p', segment: false });
  t.equal(parseViewerLine(line({ vid: 'x'.repeat(44) + 'y' })), null);
  t.equal(parseViewerLine(line({ path: '../etc/passwd x' })), null);
  t.equal(parseViewerLine(line({ at: 'soon' })), null);
  t.equal(parseViewerLine(line({ rid: 'not-a-request-id' })), null);
  t.equal(parseViewerLine(''), null);
  t.equal(parseViewerLine(line({ path: 'other.m3u8' })), null, 'the master is the only file at the top');
  t.equal(parseViewerLine(line({ path: 'master/s1.ts' })), null, 'and no rendition is called master');
  const d = parseViewerDatagram(datagram([line(), 'garbage', line({ path: 'master.m3u8' })]), TAG);
  t.equal(d?.lines.length, 2);
  t.equal(d?.malformed, 1);
  t.equal(parseViewerDatagram(datagram([line()], 'f'.repeat(32)), TAG), null, 'another tag: not our nginx');
  t.equal(parseViewerDatagram(Buffer.from('\u0000'.repeat(300)), TAG), null);
});

t.test('datagrams stay small and carry every line once', async (t) => {
  const lines = Array.from({ length: 500 }, (_, i) => line({ rid: i.toString(16).padStart(32, '0') }));
  const out = datagrams(TAG, lines);
  t.ok(out.length > 1 && out.every((d) => d.length <= 8 * 1024));
  t.same(out.flatMap((d) => parseViewerDatagram(d, TAG)!.lines.map((l) => l.requestId)), lines.map((l) => l.split(' ').at(-1)));
});

t.test('a failed fold or lookup keeps the lines for the next flush', async (t) => {
  const folded: ViewerLine[] = [];
  let foldFails = 1;
  const signals = {
    prefix: 'x',
    async fold(lines: ViewerLine[]) {
      if (foldFails-- > 0) throw new Error('Redis is away');
      folded.push(...lines);
      return 0;
    },
    async watchingNow() {
      return new Map();
    },
  } satisfies Signals;
  let lookupFails = 1;
  const db = {
    async query() {
      if (lookupFails-- > 0) throw new Error('Postgres is away');
      return { rows: [{ id: S, event_id: E, has_stream: true, renditions: ['360p', '720p'] }] };
    },
  } as unknown as Db;
  const c = createCollector({ sessions: createLineSessions({ db }), signals, log: silentLog() });
  t.teardown(() => c.close());
  const port = 20000 + Math.floor(Math.random() * 20000);
  await c.listen(port, '127.0.0.1', TAG);
  const { createSocket } = await import('node:dgram');
  const sock = createSocket('udp4');
  t.teardown(() => sock.close());
  for (const d of [datagram([line()]), datagram([line()], 'nope'), datagram([line({ at: '1795314534.160' })])]) await new Promise<void>((r) => sock.send(d, port, '127.0.0.1', () => r()));
  c.add({ sessionId: S, eventId: E, userId: U, at: 1795314533000, rendition: '', bytes: 0, segment: false, requestId: '' });
  await new Promise((r) => setTimeout(r, 100));
  await c.flush(); // the session lookup fails: nothing is folded, everything waits
  t.same(folded, []);
  await c.flush(); // the lookup works, the fold fails: all three wait
  t.same(folded, []);
  await c.flush();
  t.same(folded.map((l) => [l.at, l.eventId, l.rendition]), [[1795314532160, E, '360p'], [1795314533000, E, ''], [1795314534160, E, '360p']], 'nothing lost, in time order');
  t.match(c.stats, { received: 2, rejected: 1, folded: 3 }, 'two lines received, one datagram refused, three folded (with the heartbeat)');
});

t.test('lines count only for a session with a stream, in one of its renditions', async (t) => {
  const S2 = '1f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b'; // a session without a stream
  const S3 = '2f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b'; // no such session
  const folded: ViewerLine[] = [];
  const signals = {
    prefix: 'x',
    async fold(lines: ViewerLine[]) {
      folded.push(...lines);
      return 0;
    },
    async watchingNow() {
      return new Map();
    },
  } satisfies Signals;
  const db = {
    async query() {
      return { rows: [{ id: S, event_id: E, has_stream: true, renditions: ['360p', '720p'] }, { id: S2, event_id: E, has_stream: false, renditions: [] }] };
    },
  } as unknown as Db;
  const c = createCollector({ sessions: createLineSessions({ db }), signals, log: silentLog() });
  t.teardown(() => c.close());
  const port = 20000 + Math.floor(Math.random() * 20000);
  await c.listen(port, '127.0.0.1', TAG);
  const { createSocket } = await import('node:dgram');
  const sock = createSocket('udp4');
  t.teardown(() => sock.close());
  const rid = (i: number) => i.toString(16).padStart(32, '0');
  const lines = [
    line({ path: 'master.m3u8', rid: rid(1) }),
    line({ path: '720p/index.m3u8', rid: rid(2) }),
    line({ path: '360p/s1.ts', rid: rid(3) }),
    line({ path: '1080p/s1.ts', rid: rid(4) }), // not a rendition of this stream
    line({ path: 'junk/s1.ts', rid: rid(5) }),
    line({ path: 'master.m3u8', rid: rid(6), vid: viewerId(S2, U) }), // a session with no stream
    line({ path: '360p/s1.ts', rid: rid(7), vid: viewerId(S3, U) }), // a session that does not exist
  ];
  await new Promise<void>((r) => sock.send(datagram(lines), port, '127.0.0.1', () => r()));
  await new Promise((r) => setTimeout(r, 100));
  await c.flush();
  t.same(folded.map((l) => l.requestId).sort(), [rid(1), rid(2), rid(3)], 'the master and the stream’s renditions only');
  t.match(c.stats, { received: 7, rejected: 4, folded: 3 });
});

t.test('made-up session ids cost bounded memory', async (t) => {
  const folded: ViewerLine[] = [];
  const signals = {
    prefix: 'x',
    async fold(lines: ViewerLine[]) {
      folded.push(...lines);
      return 0;
    },
    async watchingNow() {
      return new Map();
    },
  } satisfies Signals;
  let lookups = 0;
  const db = {
    async query(_sql: string, [ids]: [string[]]) {
      lookups++;
      return { rows: ids.includes(S) ? [{ id: S, event_id: E, has_stream: true, renditions: ['360p'] }] : [] };
    },
  } as unknown as Db;
  const sessions = createLineSessions({ db });
  const c = createCollector({ sessions, signals, log: silentLog() });
  t.teardown(() => c.close());
  const port = 20000 + Math.floor(Math.random() * 20000);
  await c.listen(port, '127.0.0.1', TAG);
  const { createSocket } = await import('node:dgram');
  const sock = createSocket('udp4');
  t.teardown(() => sock.close());
  const send = async (lines: string[]) => {
    for (const d of datagrams(TAG, lines)) await new Promise<void>((r) => sock.send(d, port, '127.0.0.1', () => r()));
  };
  await send([line()]);
  await new Promise((r) => setTimeout(r, 50));
  await c.flush();
  const total = 100_000;
  for (let i = 0; i < total; i += 5_000) {
    await send(Array.from({ length: 5_000 }, () => line({ vid: viewerId(randomUUID(), U) })));
    await new Promise((r) => setTimeout(r, 20));
    await c.flush();
  }
  await new Promise((r) => setTimeout(r, 50));
  await c.flush();
  t.equal(c.stats.received, total + 1, 'every line arrived');
  t.equal(c.stats.rejected, total, 'lines of sessions that do not exist are refused');
  t.same(sessions.size(), { known: 1, unknown: SESSION_CACHE_MAX }, `the cache holds the real session and at most ${SESSION_CACHE_MAX} unknown ids`);
  const before = lookups;
  await send([line({ rid: 'f'.repeat(32) })]);
  await new Promise((r) => setTimeout(r, 50));
  await c.flush();
  t.equal(lookups, before, 'the real session is still known: its next line needs no look-up');
  t.equal(folded.length, 2);
});
