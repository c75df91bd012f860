// The collector's edges: what counts as one of nginx's lines, and that nothing is lost while
// Redis or Postgres is away (the batch waits for the next flush).
import t from 'tap';
import type { Db } from '../db/pool.js';
import { silentLog } from '../log.js';
import { createCollector, parseViewerDatagram, parseViewerLine } from './collector.js';
import { datagrams } from './forwarder.js';
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
      return { rows: [{ id: S, event_id: E }] };
    },
  } as unknown as Db;
  const c = createCollector({ db, signals, log: silentLog() });
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
