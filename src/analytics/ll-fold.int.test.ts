// Low-latency viewers in the fold, against real Redis: the worker records each part's MSN
// (ll-parts.ts) and the fold counts one segment per viewer, rendition and segment however many of
// its parts were fetched — a viewer joining mid-segment counts it too, the init section is no
// segment, a whole-segment file counts once, a new publish's MSN 0 counts again — while every
// byte counts and watch time comes from the gaps between requests as before (20 s rule).
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { silentLog } from '../log.js';
import { createRedis } from '../redis/connection.js';
import { randomId, testEnv, waitFor } from '../testing/harness.js';
import { llSegmentRef, parseViewerLine } from './collector.js';
import { createPartMsnRecorder, partMsnKey, PART_KEEP_SECONDS } from './ll-parts.js';
import { viewerId } from './playback.js';
import { createSignals, type ViewerLine } from './signals.js';

const { redisUrl } = testEnv();
const redis = createRedis({ url: redisUrl, log: silentLog(), purpose: 'test' });
t.teardown(() => redis.disconnect());
const redisPrefix = `t${randomId()}`;
const signals = createSignals({ redis, redisPrefix });
const record = createPartMsnRecorder({ redis, redisPrefix, log: silentLog() });

const playbackId = `pb${randomId(8)}`;
const [sessionId, eventId] = [randomUUID(), randomUUID()];
const [A, B, C] = [randomUUID(), randomUUID(), randomUUID()];
const TAG = 'aa11bb22';
const NEXT_TAG = 'cc33dd44'; // the stream's next publish: its parts and MSNs start again

// five parts a segment: seq 1–5 → MSN 0, 6–10 → 1, 11–15 → 2, 16 → 3 (on both rungs)
for (const rendition of ['720p', '360p']) for (let seq = 1; seq <= 16; seq++) record({ playbackId, rendition, tag: TAG, seq, msn: Math.floor((seq - 1) / 5) });
record({ playbackId, rendition: '720p', tag: NEXT_TAG, seq: 1, msn: 0 });
await waitFor(async () => (await redis.hget(partMsnKey(signals.prefix, { playbackId, rendition: '720p', tag: NEXT_TAG, seq: 1 }), '1')) === '0', { what: 'the recorded parts' });

let rids = 0;
/** A line as the collector folds it: nginx's text through the collector's parse and its LL reference. */
function line(o: { user: string; path: string; at: number; bytes?: number; rid?: string }): ViewerLine {
  const rid = o.rid ?? (++rids).toString(16).padStart(32, '0');
  const text = `v1 ${(o.at / 1000).toFixed(3)} ${viewerId(sessionId, o.user)} 200 ${o.bytes ?? 1000} ${o.path} ${rid}`;
  const { replay: _replay, llFile, ...parsed } = parseViewerLine(text)!;
  const ll = llFile ? llSegmentRef({ prefix: signals.prefix, playbackId, rendition: parsed.rendition, file: llFile }) : null;
  return { ...parsed, eventId, ...(ll ? { ll } : {}) };
}
const parts = (o: { user: string; rendition: string; from: number; to: number; at: number; tag?: string }) =>
  Array.from({ length: o.to - o.from + 1 }, (_, i) => line({ user: o.user, path: `${o.rendition}/${o.tag ?? TAG}-part${o.from + i}.m4s`, at: o.at + i * 200 }));
const fold = (lines: ViewerLine[]) => signals.fold([...lines].sort((a, b) => a.at - b.at));

/** Segments and bytes per rendition, and ms watched per viewer, summed over every minute. */
async function totals() {
  const k = `${signals.prefix}:s:${sessionId}`;
  const served: Record<string, number> = {};
  const watched: Record<string, number> = {};
  for (const m of await redis.zrange(`${k}:mins`, '0', '-1')) {
    for (const [f, v] of Object.entries(await redis.hgetall(`${k}:r:${m}`))) served[f] = (served[f] ?? 0) + Number(v);
    for (const [u, v] of Object.entries(await redis.hgetall(`${k}:w:${m}`))) watched[u] = (watched[u] ?? 0) + Number(v);
  }
  return { served, watched };
}

const T = Date.now() - 45_000;
// A: the init section, then parts 1–10 (segments 0 and 1) on 720p
await fold([line({ user: A, path: `720p/${TAG}-init1.mp4`, at: T - 100, bytes: 800 }), ...parts({ user: A, rendition: '720p', from: 1, to: 10, at: T })]);
// B joins mid-segment 0 (part 3) and reaches segment 2; C's player fetches whole segments only
await fold([...parts({ user: B, rendition: '720p', from: 3, to: 12, at: T + 400 }), line({ user: C, path: `720p/${TAG}-seg0.m4s`, at: T + 1000, bytes: 5000 }), line({ user: C, path: `720p/${TAG}-seg1.m4s`, at: T + 2000, bytes: 5000 })]);
// A switches to 360p for segment 2: a segment of that rung
await fold(parts({ user: A, rendition: '360p', from: 11, to: 15, at: T + 2000 }));

t.test('parts count toward their segment: once per viewer and rendition; bytes all; the init section no segment', async (t) => {
  const { served, watched } = await totals();
  t.equal(served['720p:n'], 2 + 3 + 2, 'A: segments 0–1; B (joined in segment 0): 0–2; C: two whole segments');
  t.equal(served['720p:b'], 800 + 10 * 1000 + 10 * 1000 + 2 * 5000, 'every part, segment and the init section’s bytes');
  t.equal(served['360p:n'], 1, 'A on the other rung: one segment of it');
  t.equal(served['360p:b'], 5 * 1000);
  t.equal(watched[A], 2800 + 100, 'A: from the init section to the last part, parts as requests like any other');
  t.equal(watched[B], 1800);
});

t.test('a repeated line, a part of a counted segment, or a part whose MSN is unknown counts no segment', async (t) => {
  const before = (await totals()).served;
  const again = parts({ user: A, rendition: '720p', from: 10, to: 10, at: T + 1800 })[0]!;
  await fold([{ ...again, requestId: (1 + 10).toString(16).padStart(32, '0') }]); // A's part 10 as another node folds it
  await fold([line({ user: C, path: `720p/${TAG}-part7.m4s`, at: T + 2100 })]); // C's player fetches a part of segment 1 too
  await fold([line({ user: B, path: `720p/${TAG}-part999.m4s`, at: T + 2500 })]); // never recorded
  const after = (await totals()).served;
  t.equal(after['720p:n'], before['720p:n'], 'no segment more');
  t.equal(after['720p:b'], before['720p:b']! + 1000 + 1000, 'the new lines’ bytes count, the repeat’s do not');
});

t.test('after a gap over 20 s the next segment counts, with no watch time; a new publish starts counting again', async (t) => {
  const before = await totals();
  await fold([line({ user: A, path: `720p/${TAG}-part16.m4s`, at: T + 2800 + 25_000 })]);
  await fold([line({ user: A, path: `720p/${NEXT_TAG}-part1.m4s`, at: T + 2800 + 25_200 })]);
  const after = await totals();
  t.equal(after.served['720p:n'], before.served['720p:n']! + 2, 'segment 3, then the next publish’s segment 0');
  t.equal(after.watched[A], before.watched[A]! + 200, 'the 25 s gap adds nothing, the next 200 ms do');
});

t.test('the part records expire on their own', async (t) => {
  const ttl = await redis.ttl(partMsnKey(signals.prefix, { playbackId, rendition: '720p', tag: TAG, seq: 1 }));
  t.ok(ttl > 0 && ttl <= PART_KEEP_SECONDS, `a TTL of ${ttl} s`);
});
