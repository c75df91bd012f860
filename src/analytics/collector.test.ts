// The collector's edges: what counts as one of nginx's lines, which datagrams are taken (sealed
// with the key, each once, recent), which lines are folded (a session with a stream, one of its
// renditions, not a banned viewer's), that made-up ids cost bounded memory, and that nothing is
// lost while Redis or Postgres is away (the batch waits for the next flush).
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import t from 'tap';
import type { Db } from '../db/pool.js';
import { silentLog } from '../log.js';
import { createCollector, parseViewerLine, parseViewerLines } from './collector.js';
import { createLineSessions, SESSION_CACHE_MAX } from './line-sessions.js';
import { viewerId } from './playback.js';
import type { Signals, ViewerLine } from './signals.js';
import { createDatagramSealer, MAX_DATAGRAM, openDatagram, viewerDatagramKey } from './viewer-datagram.js';

const S = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const U = '0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3';
const E = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const KEY = viewerDatagramKey('abcdef0123456789abcdef0123456789');
const RID = '0123456789abcdef0123456789abcdef';
const line = (o: { path?: string; vid?: string; at?: string; rid?: string; tag?: 'v1' | 'r1' } = {}) =>
  `${o.tag ?? 'v1'} ${o.at ?? '1795314532.160'} ${o.vid ?? viewerId(S, U)} 200 5000 ${o.path ?? '360p/s1.ts'} ${o.rid ?? RID}`;
const sealer = createDatagramSealer({ key: KEY });
/** One sealed datagram of these lines (as the forwarder sends them). */
const datagram = (lines: string[]) => {
  const [d, more] = sealer.seal(lines);
  if (!d || more) throw new Error('one datagram expected');
  return d;
};

/** Signals that keep what they are asked to fold. */
function foldingSignals(o: { failures?: number } = {}) {
  const folded: ViewerLine[] = [];
  let failures = o.failures ?? 0;
  const signals = {
    prefix: 'x',
    async fold(lines: ViewerLine[]) {
      if (failures-- > 0) throw new Error('Redis is away');
      folded.push(...lines);
      return 0;
    },
    async watchingNow() {
      return new Map();
    },
  } satisfies Signals;
  return { signals, folded };
}

/** A collector listening on a loopback port, and a socket to send it datagrams. */
type CollectorOptions = Parameters<typeof createCollector>[0];
async function listening(t: { teardown(fn: () => unknown): void }, o: Omit<CollectorOptions, 'log' | 'bannedAmong'> & Partial<Pick<CollectorOptions, 'bannedAmong'>>) {
  const c = createCollector({ bannedAmong: async () => new Set(), ...o, log: silentLog() });
  t.teardown(() => c.close());
  const port = 20000 + Math.floor(Math.random() * 20000);
  await c.listen(port, '127.0.0.1', KEY);
  const sock = createSocket('udp4');
  t.teardown(() => sock.close());
  const send = async (...ds: Buffer[]) => {
    for (const d of ds) await new Promise<void>((r) => sock.send(d, port, '127.0.0.1', () => r()));
    await new Promise((r) => setTimeout(r, 50));
  };
  return { c, send };
}

const sessionRows = (rows: { id: string; hasStream: boolean; renditions: string[]; playbackId?: string }[]) =>
  ({
    async query(_sql: string, [ids]: [string[]]) {
      return { rows: rows.filter((r) => ids.includes(r.id)).map((r) => ({ id: r.id, event_id: E, has_stream: r.hasStream, playback_id: r.playbackId ?? null, renditions: r.renditions })) };
    },
  }) as unknown as Db;

t.test('nginx viewer lines are parsed; anything else is refused', async (t) => {
  t.same(parseViewerLine(line()), { at: 1795314532160, sessionId: S, userId: U, rendition: '360p', bytes: 5000, segment: true, requestId: RID, replay: false });
  t.same(parseViewerLine(line({ tag: 'r1' })), { at: 1795314532160, sessionId: S, userId: U, rendition: '360p', bytes: 5000, segment: true, requestId: RID, replay: true }, 'r1: a replay');
  t.match(parseViewerLine(line({ tag: 'r1', path: 'download/onair-2026-12-07-abcdef01.mp4' })), { rendition: 'download', segment: true, replay: true });
  t.equal(parseViewerLine(line({ tag: 'r1', path: 'poster.jpg' })), null, 'a poster is no viewer line');
  t.equal(parseViewerLine(line().replace(/^v1/, 'x1')), null);
  t.match(parseViewerLine(line({ path: 'master.m3u8' })), { rendition: 'master', segment: false });
  t.match(parseViewerLine(line({ path: '720p/index.m3u8' })), { rendition: '720p', segment: false });
  t.equal(parseViewerLine(line({ vid: 'x'.repeat(44) + 'y' })), null);
  t.equal(parseViewerLine(line({ path: '../etc/passwd x' })), null);
  t.equal(parseViewerLine(line({ at: 'soon' })), null);
  t.equal(parseViewerLine(line({ rid: 'not-a-request-id' })), null);
  t.equal(parseViewerLine(''), null);
  t.equal(parseViewerLine(line({ path: 'other.m3u8' })), null, 'the master is the only file at the top');
  t.equal(parseViewerLine(line({ path: 'master/s1.ts' })), null, 'and no rendition is called master');
  const d = openDatagram(datagram([line(), 'garbage', line({ path: 'master.m3u8' })]), KEY);
  t.match(d, { instance: sealer.instance, seq: Number });
  const parsed = parseViewerLines(d!.body);
  t.equal(parsed.lines.length, 2);
  t.equal(parsed.malformed, 1);
  t.equal(openDatagram(datagram([line()]), viewerDatagramKey('another-secret-another-secret-000')), null, 'another key: not our forwarder');
  t.equal(openDatagram(Buffer.from('\u0000'.repeat(300)), KEY), null);
});

t.test('datagrams stay small and carry every line once', async (t) => {
  const lines = Array.from({ length: 500 }, (_, i) => line({ rid: i.toString(16).padStart(32, '0') }));
  const out = createDatagramSealer({ key: KEY }).seal(lines);
  t.ok(out.length > 1 && out.every((d, i) => d.length <= MAX_DATAGRAM && (i === out.length - 1 || d.length > MAX_DATAGRAM - 300)), 'close to 8 KiB, never above');
  t.same(out.map((d) => openDatagram(d, KEY)!.seq), out.map((_, i) => i + 1), 'numbered in order');
  t.same(out.flatMap((d) => parseViewerLines(openDatagram(d, KEY)!.body).lines.map((l) => l.requestId)), lines.map((l) => l.split(' ').at(-1)));
});

t.test('a failed fold or lookup keeps the lines for the next flush', async (t) => {
  const { signals, folded } = foldingSignals({ failures: 1 });
  let lookupFails = 1;
  const db = {
    async query() {
      if (lookupFails-- > 0) throw new Error('Postgres is away');
      return { rows: [{ id: S, event_id: E, has_stream: true, renditions: ['360p', '720p'] }] };
    },
  } as unknown as Db;
  const { c, send } = await listening(t, { sessions: createLineSessions({ db }), signals });
  await send(datagram([line()]), Buffer.from(`onair-viewers ${'f'.repeat(32)}\n${line()}\n`), datagram([line({ at: '1795314534.160' })]));
  c.add({ sessionId: S, eventId: E, userId: U, at: 1795314533000, rendition: '', bytes: 0, segment: false, requestId: '' });
  await new Promise((r) => setTimeout(r, 100));
  await c.flush(); // the session lookup fails: nothing is folded, everything waits
  t.same(folded, []);
  await c.flush(); // the lookup works, the fold fails: all three wait
  t.same(folded, []);
  await c.flush();
  t.same(folded.map((l) => [l.at, l.eventId, l.rendition]), [[1795314532160, E, '360p'], [1795314533000, E, ''], [1795314534160, E, '360p']], 'nothing lost, in time order');
  t.match(c.stats, { received: 2, rejected: 0, folded: 3, datagrams: { accepted: 2, forged: 1 } }, 'two lines received, one datagram refused, three folded (with the heartbeat)');
});

t.test('low-latency files: a part or a whole segment names its segment, the init section is no segment', async (t) => {
  const base = { at: 1795314532160, sessionId: S, userId: U, rendition: '360p', bytes: 5000, requestId: RID, replay: false };
  t.same(parseViewerLine(line({ path: '360p/ab12cd34-part17.m4s' })), { ...base, segment: false, llFile: { tag: 'ab12cd34', kind: 'part', n: 17 } }, 'a part: its seq, the segment decided by the fold');
  t.same(parseViewerLine(line({ path: '360p/ab12cd34-seg4.m4s' })), { ...base, segment: false, llFile: { tag: 'ab12cd34', kind: 'seg', n: 4 } }, 'a whole segment: its MSN');
  t.same(parseViewerLine(line({ path: '360p/ab12cd34-init2.mp4' })), { ...base, segment: false }, 'the init section: bytes, no segment');
  t.same(parseViewerLine(line({ path: '360p/seg-ab12cd34-000012.ts' })), { ...base, segment: true }, 'standard mode as before');
  t.same(parseViewerLine(line({ path: '360p/index.m3u8' })), { ...base, segment: false }, 'a playlist');
  t.match(parseViewerLine(line({ path: '360p/ab12cd34-part17.mp4' })), { segment: true, llFile: undefined }, 'not a low-latency name: a file as before');
  t.match(parseViewerLine(line({ tag: 'r1', path: '360p/ab12cd34-part17.m4s' })), { segment: true, llFile: undefined, replay: true }, 'replays are not low-latency');
});

t.test('a low-latency part is folded with where its MSN is recorded, a segment with its MSN', async (t) => {
  const { signals, folded } = foldingSignals();
  const db = sessionRows([{ id: S, hasStream: true, renditions: ['360p'], playbackId: 'pb123' }]);
  const { c, send } = await listening(t, { sessions: createLineSessions({ db }), signals });
  const rid = (i: number) => i.toString(16).padStart(32, '0');
  await send(datagram([line({ path: '360p/ab12cd34-part250.m4s', rid: rid(1) }), line({ path: '360p/ab12cd34-seg9.m4s', rid: rid(2) }), line({ path: '360p/ab12cd34-init1.mp4', rid: rid(3) })]));
  await c.flush();
  const byRid = new Map(folded.map((l) => [l.requestId, l]));
  t.same(byRid.get(rid(1))!.ll, { tag: 'ab12cd34', seq: 250, partKey: 'x:ll:pb123:360p:ab12cd34:2' });
  t.same(byRid.get(rid(2))!.ll, { tag: 'ab12cd34', msn: 9 });
  t.equal(byRid.get(rid(3))!.ll, undefined);
  t.notOk(byRid.get(rid(3))!.segment, 'the init section is no segment');
});

t.test('lines count only for a session with a stream, in one of its renditions', async (t) => {
  const S2 = '1f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b'; // a session without a stream
  const S3 = '2f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b'; // no such session
  const { signals, folded } = foldingSignals();
  const db = sessionRows([{ id: S, hasStream: true, renditions: ['360p', '720p'] }, { id: S2, hasStream: false, renditions: [] }]);
  const { c, send } = await listening(t, { sessions: createLineSessions({ db }), signals });
  const rid = (i: number) => i.toString(16).padStart(32, '0');
  await send(
    datagram([
      line({ path: 'master.m3u8', rid: rid(1) }),
      line({ path: '720p/index.m3u8', rid: rid(2) }),
      line({ path: '360p/s1.ts', rid: rid(3) }),
      line({ path: '1080p/s1.ts', rid: rid(4) }), // not a rendition of this stream
      line({ path: 'junk/s1.ts', rid: rid(5) }),
      line({ path: 'master.m3u8', rid: rid(6), vid: viewerId(S2, U) }), // a session with no stream
      line({ path: '360p/s1.ts', rid: rid(7), vid: viewerId(S3, U) }), // a session that does not exist
    ]),
  );
  await c.flush();
  t.same(folded.map((l) => l.requestId).sort(), [rid(1), rid(2), rid(3)], 'the master and the stream’s renditions only');
  t.match(c.stats, { received: 7, rejected: 4, folded: 3 });
});

t.test('replay lines count for their session with their own flag, stream or not', async (t) => {
  const S2 = '1f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b'; // a session whose stream is gone since
  const S3 = '2f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b'; // no such session
  const { signals, folded } = foldingSignals();
  const db = sessionRows([{ id: S, hasStream: true, renditions: ['360p'] }, { id: S2, hasStream: false, renditions: [] }]);
  const { c, send } = await listening(t, { sessions: createLineSessions({ db }), signals });
  const rid = (i: number) => i.toString(16).padStart(32, '0');
  await send(
    datagram([
      line({ tag: 'r1', path: 'master.m3u8', rid: rid(1) }),
      line({ tag: 'r1', path: '1080p/s1.ts', rid: rid(2) }), // a rung the recording has, whatever the stream does now
      line({ tag: 'r1', path: 'download/a.mp4', rid: rid(3), vid: viewerId(S2, U) }),
      line({ tag: 'r1', path: 'master.m3u8', rid: rid(4), vid: viewerId(S3, U) }),
      line({ path: 'master.m3u8', rid: rid(5), vid: viewerId(S2, U) }), // live: no stream, refused as before
    ]),
  );
  await c.flush();
  t.same(folded.map((l) => [l.requestId, l.rendition, l.eventId]).sort(), [[rid(1), 'replay:master', E], [rid(2), 'replay:1080p', E], [rid(3), 'replay:download', E]], 'folded under replay: renditions');
  t.match(c.stats, { received: 5, rejected: 2, folded: 3 });
});

t.test('made-up session ids cost bounded memory', async (t) => {
  const { signals, folded } = foldingSignals();
  let lookups = 0;
  const rows = sessionRows([{ id: S, hasStream: true, renditions: ['360p'] }]);
  const db = { query: (...a: [string, [string[]]]) => (lookups++, rows.query(...a)) } as unknown as Db;
  const sessions = createLineSessions({ db });
  const { c, send } = await listening(t, { sessions, signals });
  const sendLines = (lines: string[]) => send(...sealer.seal(lines));
  await sendLines([line()]);
  await c.flush();
  const total = 100_000;
  for (let i = 0; i < total; i += 1_000) {
    await sendLines(Array.from({ length: 1_000 }, () => line({ vid: viewerId(randomUUID(), U) })));
    for (let waited = 0; c.stats.received < i + 1_001 && waited < 2_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    await c.flush();
  }
  t.equal(c.stats.received, total + 1, 'every line arrived');
  t.equal(c.stats.rejected, total, 'lines of sessions that do not exist are refused');
  t.same(sessions.size(), { known: 1, unknown: SESSION_CACHE_MAX }, `the cache holds the real session and at most ${SESSION_CACHE_MAX} unknown ids`);
  const before = lookups;
  await sendLines([line({ rid: 'f'.repeat(32) })]);
  await c.flush();
  t.equal(lookups, before, 'the real session is still known: its next line needs no look-up');
  t.equal(folded.length, 2);
});

t.test('a datagram is taken once, recent, sealed with the key and unaltered', async (t) => {
  let clock = Date.now();
  const now = () => clock;
  const { signals, folded } = foldingSignals();
  const db = sessionRows([{ id: S, hasStream: true, renditions: ['360p'] }]);
  const sender = createDatagramSealer({ key: KEY, now });
  const early = sender.seal([line({ rid: 'e'.repeat(32) })])[0]!; // sent before the node started
  clock += 10;
  const { c, send } = await listening(t, { sessions: createLineSessions({ db }), signals, now });
  const captured = sender.seal([line({ rid: 'a'.repeat(32) })])[0]!;
  await send(captured);
  await c.flush();
  t.equal(folded.length, 1, 'the datagram counts');
  await send(early);
  await c.flush();
  t.equal(folded.length, 1, 'one sent before the node started is refused (it cannot know whether it saw it)');

  await send(captured);
  await c.flush();
  t.equal(folded.length, 1, 'sent again at once: refused, nothing folded');
  clock += 61_000;
  await send(captured);
  await c.flush();
  t.equal(folded.length, 1, 'sent again a minute later: refused, nothing folded');

  const fresh = sender.seal([line({ rid: 'b'.repeat(32) })])[0]!;
  for (let i = 0; i < fresh.length; i += 97) {
    const altered = Buffer.from(fresh);
    altered[i] = altered[i]! ^ 0x01;
    await send(altered);
  }
  await send(Buffer.from(`onair-viewers ${'f'.repeat(32)}\n${line({ rid: 'c'.repeat(32) })}\n`)); // the old fixed-tag format
  await send(createDatagramSealer({ key: viewerDatagramKey('x'.repeat(32)), now }).seal([line({ rid: 'd'.repeat(32) })])[0]!); // another key
  await c.flush();
  t.equal(folded.length, 1, 'altered, old-format and foreign-key datagrams: nothing folded');

  const later = sender.seal([line({ rid: 'f'.repeat(32) })])[0]!;
  await send(later, fresh);
  await c.flush();
  t.same(folded.map((l) => l.requestId), ['a', 'f', 'b'].map((x) => x.repeat(32)), 'the sender’s next datagrams still count, also out of order');
  t.same(c.stats.datagrams, { accepted: 3, forged: Math.ceil(fresh.length / 97) + 2, replayed: 1, stale: 2 });
});

t.test('a banned viewer’s lines and heartbeats stop counting with the next batch', async (t) => {
  const U2 = '1a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3';
  const { signals, folded } = foldingSignals();
  const db = sessionRows([{ id: S, hasStream: true, renditions: ['360p'] }]);
  const banned = new Set<string>();
  const asked: number[] = [];
  const bannedAmong = async (pairs: { eventId: string; userId: string }[]) => {
    asked.push(pairs.length);
    return new Set(pairs.map((p) => `${p.eventId} ${p.userId}`).filter((k) => banned.has(k)));
  };
  const { c, send } = await listening(t, { sessions: createLineSessions({ db }), signals, bannedAmong });
  const rid = (i: number) => i.toString(16).padStart(32, '0');
  const heartbeat = (userId: string, at: number) => c.add({ sessionId: S, eventId: E, userId, at, rendition: '', bytes: 0, segment: false, requestId: '' });
  await send(datagram([line({ rid: rid(1) }), line({ rid: rid(2), vid: viewerId(S, U2) }), line({ rid: rid(3) })]));
  heartbeat(U, 1795314533000);
  await c.flush();
  t.equal(folded.length, 4, 'before the ban: everything counts');
  t.same(asked, [2], 'one look-up for the batch’s two viewers');

  banned.add(`${E} ${U}`);
  await send(datagram([line({ rid: rid(4) }), line({ rid: rid(5), vid: viewerId(S, U2) })]));
  heartbeat(U, 1795314534000);
  await c.flush();
  t.same(folded.slice(4).map((l) => l.requestId), [rid(5)], 'after it: the banned viewer’s line and heartbeat are not folded, the other viewer’s is');
  t.equal(c.stats.banned, 2);

  banned.clear();
  await send(datagram([line({ rid: rid(6) })]));
  await c.flush();
  t.same(folded.slice(5).map((l) => l.requestId), [rid(6)], 'lifted: they count again');
});
