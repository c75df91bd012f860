// Restarts (a new ffmpeg run), the sliding window with its deletion list, and malformed input.
import t from 'tap';
import { M3U8Parser } from 'hls.js';
import { LlSession } from './session.js';
import { renderMediaPlaylist } from './media-playlist.js';
import { Mp4FormatError } from './errors.js';
import { BoxSplitter } from './mp4-boxes.js';
import { readMoov } from './moov.js';
import { describeFragment } from './fragment.js';
import { FIXTURES, feedLadder, feedRun, parseMediaPlaylist, readFixture } from '../testing/llhls-fixtures.js';

const START = Date.UTC(2026, 11, 7, 20, 0, 0);

t.test('a restart: EXT-X-DISCONTINUITY, a new init section, MSN and PDT continuing', async (t) => {
  const session = new LlSession({ prefix: 'run', targetDuration: 1 });
  const p = session.rendition('copy');
  const bytes = readFixture(FIXTURES.gop1Copy);
  // 400 ms per chunk: slower than real time (~20 chunks for 6 s of media), as a live run is
  const first = feedRun({ packager: p, bytes, seed: 1, nowMs: START, msPerChunk: 400 });
  const second = feedRun({ packager: p, bytes, seed: 2, nowMs: first.nowMs + 3000, msPerChunk: 400 });
  t.same(first.files.filter((f) => f.kind === 'init').map((f) => f.name), ['run-init1.mp4']);
  t.same(second.files.filter((f) => f.kind === 'init').map((f) => f.name), ['run-init2.mp4'], 'a new init name');
  t.ok(second.files[0]!.bytes.equals(first.files[0]!.bytes), 'same bytes, since the same encoder settings: the name is what changes');
  const segs = p.state().segments;
  t.same(segs.map((s) => s.msn), [6, 7, 8, 9, 10, 11, 12], 'MSN continues across the restart (window of 7)');
  t.same(segs.map((s) => s.discontinuity), [false, true, false, false, false, false, false]);
  t.same(segs.map((s) => s.init), ['run-init1.mp4', ...Array(6).fill('run-init2.mp4')]);
  t.ok(segs[1]!.wallClockMs >= first.nowMs + 3000 - 1000, 'the new run\'s PDT comes from the wall clock of its first part: it jumps over the gap');
  const playlist = parseMediaPlaylist(renderMediaPlaylist({ state: p.state(), others: [] }));
  const seven = playlist.segments.find((s) => s.msn === 7)!;
  t.ok(seven.discontinuity, 'rendered: EXT-X-DISCONTINUITY before the first segment of the new run');
  t.equal(seven.map, 'run-init2.mp4', 'rendered: EXT-X-MAP of the new init');
  t.equal(playlist.segments.find((s) => s.msn === 6)!.map, 'run-init1.mp4');
  t.equal(playlist.tags.get('#EXT-X-DISCONTINUITY-SEQUENCE'), undefined, 'no discontinuity has left the window yet');

  // one more run pushes the discontinuity out of the window
  // a run fed much faster than real time (a backlog) right after: PDT still never goes backwards
  feedRun({ packager: p, bytes, seed: 3, nowMs: second.nowMs + 1, msPerChunk: 1 });
  const all = p.state().segments;
  for (let i = 1; i < all.length; i++) {
    t.ok(all[i]!.wallClockMs >= all[i - 1]!.wallClockMs + Math.round(1000 * all[i - 1]!.duration), `PDT of ${all[i]!.msn} after the end of ${all[i - 1]!.msn}`);
  }
  const later = parseMediaPlaylist(renderMediaPlaylist({ state: p.state(), others: [] }));
  t.same(later.tags.get('#EXT-X-DISCONTINUITY-SEQUENCE'), ['1'], 'DISCONTINUITY-SEQUENCE counts the one that left');
  t.same(later.segments.map((s) => s.msn), [12, 13, 14, 15, 16, 17, 18]);
});

t.test('the window: ≥ 6 segments, parts for the last ~3 TD, files deletable ≥ 3 TD after they left', async (t) => {
  const session = new LlSession({ prefix: 'win', targetDuration: 1 });
  const p = session.rendition('copy');
  const bytes = readFixture(FIXTURES.gop1Copy);
  const lastListed = new Map<string, number>(); // name → last time it was in the rendered playlist
  const deleted = new Map<string, number>();
  const written = new Set<string>();
  let nowMs = START;
  let maxSegments = 0;
  const check = (at: number) => {
    const text = renderMediaPlaylist({ state: p.state(), others: [] });
    const pl = parseMediaPlaylist(text);
    const complete = pl.segments.filter((s) => s.uri);
    maxSegments = Math.max(maxSegments, complete.length);
    const withParts = pl.segments.filter((s) => s.parts.length > 0);
    const partSeconds = withParts.reduce((a, s) => a + s.parts.reduce((b, x) => b + x.duration, 0), 0);
    if (partSeconds > 3 * 1 + 1.05) t.fail(`parts listed for the last ${partSeconds.toFixed(2)} s: more than 3 TD + one segment`);
    if (complete.length >= 3 && withParts.length < 2) t.fail('the last segments list their parts');
    for (const name of [...text.matchAll(/(win-[a-z]+\d+\.m(?:4s|p4))/g)].map((m) => m[1]!)) lastListed.set(name, at);
    for (const name of p.expired(at)) {
      if (deleted.has(name)) t.fail(`${name} returned twice`);
      deleted.set(name, at);
      if (text.includes(name)) t.fail(`${name} deletable while in the playlist`);
      // (a burst of parts in one chunk can retire parts that were never in a rendered playlist)
      if (lastListed.has(name) && at - lastListed.get(name)! < 3000) t.fail(`${name} deletable less than 3 TD after it left the playlist (${lastListed.get(name)} → ${at})`);
    }
    return complete.length;
  };
  for (let run = 0; run < 4; run++) {
    // 300 ms per chunk: about real time for these small files, so files age as they would live
    const fed = feedLadder({ packagers: [p], inputs: [bytes], seed: 40 + run, nowMs, msPerChunk: 300, onStep: (s) => {
      for (const f of s.files) written.add(f.name);
      check(s.nowMs);
    } });
    nowMs = fed.nowMs + 500;
    const listed = check(nowMs);
    if (run > 0) t.ok(listed >= 6 && listed <= 7, `${listed} segments listed after run ${run + 1}`);
  }
  t.equal(maxSegments, 7, 'the window holds 7 segments');
  t.ok(deleted.size > 40, `${deleted.size} files deletable by now`);
  t.ok([...deleted.keys()].some((n) => n.includes('init1')), 'the first run\'s init once no segment uses it');
  t.ok([...deleted.keys()].every((n) => written.has(n)), 'only names that were written');
  t.equal(new Set(deleted.keys()).size, deleted.size, 'each name once');
  t.same(p.expired(nowMs), [], 'nothing twice');
});

t.test('malformed input: a typed error in the result, never a throw; the next run works', async (t) => {
  const session = new LlSession({ prefix: 'bad', targetDuration: 1 });
  const good = readFixture(FIXTURES.gop1Copy);

  const garbage = session.rendition('garbage');
  const r1 = garbage.push(Buffer.from('this is not an mp4 stream at all'), START);
  t.type(r1.error, Mp4FormatError);
  t.equal(r1.error?.reason, 'malformed');
  t.equal(garbage.push(good, START).error, r1.error, 'the run stays failed: later bytes are ignored');
  t.same(garbage.endRun(START).error, r1.error, 'endRun reports it once more');
  const after = garbage.push(good, START + 10);
  t.equal(after.error, undefined, 'a new run after endRun works');
  t.ok(after.files.some((f) => f.kind === 'part'));

  const truncated = session.rendition('truncated');
  const cut = truncated.push(good.subarray(0, good.length - 5000), START);
  t.equal(cut.error, undefined);
  const ended = truncated.endRun(START + 10);
  t.equal(ended.error?.reason, 'truncated', 'a pipe that ended inside a box');
  t.ok(ended.files.some((f) => f.kind === 'segment'), 'the open segment is still completed from its whole parts');

  const huge = session.rendition('huge');
  const head = Buffer.from(good.subarray(0, 8));
  head.writeUInt32BE(0x7fffffff, 0);
  t.equal(huge.push(head, START).error?.reason, 'too_large');

  const orphan = session.rendition('orphan');
  const moofAt = good.indexOf('moof', 0, 'latin1') - 4;
  t.equal(orphan.push(good.subarray(moofAt), START).error?.reason, 'unexpected', 'a moof before any init section');

  const lonely = session.rendition('lonely');
  const moofEnd = moofAt + good.readUInt32BE(moofAt);
  t.equal(lonely.push(good.subarray(0, moofEnd), START).error, undefined);
  t.equal(lonely.endRun(START).error?.reason, 'truncated', 'a pipe that ended between a moof and its mdat');

  const noIdr = new LlSession({ prefix: 'big', targetDuration: 2, maxSegmentBytes: 15_000 }).rendition('copy');
  const grown = noIdr.push(readFixture(FIXTURES.gop2bfCopy), START);
  t.equal(grown.error?.reason, 'too_large', 'an open segment over maxSegmentBytes fails the run (bounded memory)');
  t.match(grown.error?.message, /without a new IDR/);

  const corrupt = session.rendition('corrupt');
  const bad = Buffer.from(good);
  const trun = bad.indexOf('trun', moofAt, 'latin1');
  bad.writeUInt32BE(5_000_000, trun + 8); // sample_count far beyond the box
  t.equal(corrupt.push(bad, START).error?.reason, 'malformed', 'a trun whose count runs past its box');
});

t.test('parts over PART-TARGET and segments over TARGETDURATION are counted for the caller to log', async (t) => {
  // a session whose settings do not match the publisher: 100 ms parts asked for, ffmpeg made 200 ms;
  // TD 1 fixed, but the publisher's GOP is 2 s
  const session = new LlSession({ prefix: 'mis', targetDuration: 1, nominalPart: 0.1 });
  const p = session.rendition('copy');
  feedRun({ packager: p, bytes: readFixture(FIXTURES.gop2bfCopy), seed: 5, nowMs: START });
  const m = p.measured();
  t.ok(m.overlongParts >= 25, `${m.overlongParts} parts over PART-TARGET ${session.constants.partTarget}`);
  t.equal(m.overlongSegments, 3, 'every 2 s segment is over TARGETDURATION 1');
  t.equal(session.constants.partTarget, 0.117, 'PART-TARGET stays what the session fixed');

  const fine = new LlSession({ prefix: 'ok', targetDuration: 2 }).rendition('copy');
  feedRun({ packager: fine, bytes: readFixture(FIXTURES.gop2bfCopy), seed: 5, nowMs: START });
  t.same([fine.measured().overlongParts, fine.measured().overlongSegments], [0, 0], 'none with matching settings');
});

t.test('session settings are checked, every problem in one message', async (t) => {
  t.throws(() => new LlSession({ prefix: 'a/b', targetDuration: 1.5, nominalPart: 2, windowSegments: 3 }), {
    code: 'bad_request',
    message: /prefix must be.*targetDuration must be.*nominalPart must be.*windowSegments must be/,
  });
  const c = new LlSession({ prefix: 'p', targetDuration: 2 }).constants;
  t.same([c.partTarget, c.partHoldBack, c.minSegment, c.windowSegments, c.maxSegmentBytes], [0.235, 0.705, 1, 7, 64 * 1024 * 1024], 'the defaults');
});

/** The fixture up to (not including) its last IDR fragment: a pipe that stopped one segment short. */
function cutBeforeLastIdr(bytes: Buffer): Buffer {
  const boxes = new BoxSplitter().push(bytes);
  const moov = boxes.find((b) => b.type === 'moov')!;
  const init = readMoov(moov.bytes.subarray(moov.headerSize));
  let last = -1;
  boxes.forEach((b, i) => {
    if (b.type === 'moof' && describeFragment(b.bytes.subarray(b.headerSize), init).independent) last = i;
  });
  return Buffer.concat(boxes.slice(0, last).map((b) => b.bytes));
}

t.test('a restart after one rung got one segment further: a GAP segment keeps the MSNs aligned', async (t) => {
  const session = new LlSession({ prefix: 'gap', targetDuration: 1 });
  const [a, b] = [session.rendition('copy'), session.rendition('x264')];
  const copy = readFixture(FIXTURES.gop1Copy);
  const x264 = readFixture(FIXTURES.gop1X264);
  const run1 = feedLadder({ packagers: [a, b], inputs: [copy, cutBeforeLastIdr(x264)], seed: 8, nowMs: START, msPerChunk: 300 });
  t.same([a.state().segments.at(-1)!.msn, b.state().segments.at(-1)!.msn], [6, 5], 'the x264 rung ended one segment short');
  const run2 = feedLadder({ packagers: [b, a], inputs: [x264, copy], seed: 9, nowMs: run1.nowMs + 2000, msPerChunk: 300 });
  const msns = (p: typeof a) => p.state().segments.filter((s) => s.discontinuity || s.msn > 6).map((s) => s.msn);
  t.same(msns(a), msns(b), 'the second run has the same MSNs in both rungs');
  t.equal(a.state().segments.find((s) => s.discontinuity)!.msn, 7);
  const gap = b.state().segments.find((s) => s.gap)!;
  t.equal(gap.msn, 6, 'segment 6 is a gap in the rung that never had it');
  t.ok(Math.abs(gap.duration - a.state().segments.find((s) => s.msn === 6)!.duration) < 1e-9, 'as long as the other rung\'s');
  t.notOk([...run1.files[1]!, ...run2.files[0]!].some((f) => f.name === gap.name), 'its file is never written');
  const text = renderMediaPlaylist({ state: b.state(), others: [] });
  t.match(text, new RegExp(`#EXT-X-PROGRAM-DATE-TIME:[^\\n]+\\n#EXT-X-GAP\\n#EXTINF:${gap.duration.toFixed(5)},\\n${gap.name}\\n#EXT-X-DISCONTINUITY\\n`), 'rendered: EXT-X-GAP, then the discontinuity');
  const parsed = M3U8Parser.parseLevelPlaylist(text, 'https://h/x264/index.m3u8', 0, 'main' as never, 0, null);
  t.same(parsed.fragments.filter((f) => f.gap).map((f) => f.sn), [6], 'hls.js reads it as a gap (never loaded)');
  const segs = b.state().segments;
  for (let i = 1; i < segs.length; i++) t.ok(segs[i]!.wallClockMs >= segs[i - 1]!.wallClockMs, `PDT of ${segs[i]!.msn} not before ${segs[i - 1]!.msn}`);
  const later = feedLadder({ packagers: [a, b], inputs: [copy, x264], seed: 10, nowMs: run2.nowMs + 1000, msPerChunk: 300 });
  t.notOk(b.expired(later.nowMs + 60_000).includes(gap.name), 'and never on the deletion list');
});
