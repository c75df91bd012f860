// Conformance of the packager's output on the recorded fixtures, fed in random-sized chunks
// (RFC 8216bis §4.4.4.9, §4.4.3.7; Apple's authoring spec 7.4, 8.2; LL-HLS-NOTES §1.1).
import t from 'tap';
import { BoxSplitter } from './mp4-boxes.js';
import { readMoov, type InitInfo } from './moov.js';
import { readMoof } from './moof.js';
import { LlSession } from './session.js';
import type { LlFile, SegmentInfo } from './types.js';
import { FIXTURES, feedLadder, readFixture } from '../testing/llhls-fixtures.js';

const START = Date.UTC(2026, 11, 7, 20, 0, 0);
const FRAME = 1 / 30;

const PAIRS = [
  // `offset`: how far the rungs' timelines may be apart. Without B-frames, under half a frame (FLV's
  // millisecond timestamps). With the publisher's 2 B-frames the copy rung's IDRs carry composition
  // offsets: its first IDR is shown 2 frames later than the transcoded rung's, later ones 1 frame
  // (notes §2.2). The IDRs are the same pictures either way.
  { name: 'gop1 (1 s GOP, no B-frames)', copy: FIXTURES.gop1Copy, x264: FIXTURES.gop1X264, td: 1, offset: FRAME / 2 },
  { name: 'gop2bf (2 s GOP, publisher B-frames)', copy: FIXTURES.gop2bfCopy, x264: FIXTURES.gop2bfX264, td: 2, offset: 2 * FRAME },
];

function initOf(file: LlFile): InitInfo {
  const moov = new BoxSplitter().push(file.bytes).find((b) => b.type === 'moov')!;
  return readMoov(moov.bytes.subarray(moov.headerSize));
}

/** Is the first video sample of a part file a sync sample? Read from the file's own moof. */
function startsWithSync(part: Buffer, init: InitInfo): boolean {
  const moof = new BoxSplitter().push(part).find((b) => b.type === 'moof')!;
  const video = readMoof(moof.bytes.subarray(moof.headerSize), (id) => init.tracks.get(id)?.defaults).find((r) => r.trackId === init.video!.trackId);
  return video?.samples[0]?.sync ?? false;
}

function ladder(pair: (typeof PAIRS)[number], options: { seed: number; minSegment?: number }) {
  const session = new LlSession({ prefix: 'ab12cd34', targetDuration: pair.td, minSegment: options.minSegment, windowSegments: 8 });
  const packagers = [session.rendition('copy'), session.rendition('x264')];
  const fed = feedLadder({ packagers, inputs: [readFixture(pair.copy), readFixture(pair.x264)], seed: options.seed, nowMs: START });
  const segments = packagers.map((p) => p.state().segments);
  return { session, packagers, files: fed.files, segments };
}

for (const pair of PAIRS) {
  t.test(`${pair.name}: parts, INDEPENDENT, segments and MSNs`, async (t) => {
    for (const seed of [11, 12]) {
      const { session, files, segments } = ladder(pair, { seed });
      const { partTarget } = session.constants;
      files.forEach((rendition, r) => {
        const byName = new Map(rendition.map((f) => [f.name, f]));
        const inits = rendition.filter((f) => f.kind === 'init');
        t.equal(inits.length, 1, 'one init section per run');
        t.equal(rendition[0]!.kind, 'init', 'written before any part');
        const init = initOf(inits[0]!);
        const segs = segments[r]!;
        t.ok(segs.length >= 3, `${segs.length} segments`);
        t.same(segs.map((s) => s.msn), segs.map((_, i) => i + 1), 'MSN from 1, one by one');
        t.ok(segs.every((s) => s.complete), 'every segment complete after the run ended');
        let short = 0;
        for (const seg of segs) {
          t.ok(seg.parts[0]!.independent, `segment ${seg.msn} starts with an independent part`);
          t.ok(startsWithSync(byName.get(seg.name)!.bytes, init), `segment ${seg.msn}'s file starts with a sync sample (IDR)`);
          const concat = Buffer.concat(seg.parts.map((p) => byName.get(p.name)!.bytes));
          t.ok(byName.get(seg.name)!.bytes.equals(concat), `segment ${seg.msn} = the concatenation of its ${seg.parts.length} parts`);
          seg.parts.forEach((p, i) => {
            const file = byName.get(p.name)!;
            if (file.kind !== 'part' || file.msn !== seg.msn || file.part.index !== i) t.fail(`part file ${p.name} says where it belongs`);
            t.equal(p.independent, startsWithSync(byName.get(p.name)!.bytes, init), `INDEPENDENT exactly on a sync start (${seg.msn}.${i})`);
            if (p.duration > partTarget) t.fail(`part ${seg.msn}.${i} is ${p.duration} s > PART-TARGET ${partTarget}`);
            const exempt = i === seg.parts.length - 1 || p.independent;
            if (!exempt && p.duration < 0.85 * partTarget) t.fail(`part ${seg.msn}.${i} is ${p.duration} s < 85 % of PART-TARGET`);
            if (p.duration < 0.85 * partTarget) short += 1;
          });
          t.ok(Math.abs(seg.duration - seg.parts.reduce((a, p) => a + p.duration, 0)) < 1e-9, 'EXTINF = the sum of its parts');
          t.ok(Math.round(seg.duration) <= pair.td, `segment ${seg.msn} (${seg.duration.toFixed(3)} s) fits TARGETDURATION ${pair.td}`);
        }
        t.comment(`rendition ${r}: ${segs.length} segments, ${segs.reduce((a, s) => a + s.parts.length, 0)} parts, ${short} exempt short parts`);
        // nothing lost: the parts are the fixture's fragments, in order
        const fragments = new BoxSplitter().push(readFixture(r === 0 ? pair.copy : pair.x264)).filter((b) => b.type === 'moof' || b.type === 'mdat');
        const partBytes = Buffer.concat(rendition.filter((f) => f.kind === 'part').map((f) => f.bytes));
        t.ok(partBytes.equals(Buffer.concat(fragments.map((b) => b.bytes))), 'every moof+mdat became exactly one part');
      });
    }
  });

  for (const minSegment of [undefined, pair.td]) {
    t.test(`${pair.name}: both rungs cut at the same segment boundaries (minSegment ${minSegment ?? 'default'})`, async (t) => {
      const { segments } = ladder(pair, { seed: 21, minSegment });
      const [copy, x264] = segments as [SegmentInfo[], SegmentInfo[]];
      t.same(copy.map((s) => s.msn), x264.map((s) => s.msn), 'the same MSNs');
      copy.forEach((c, i) => {
        const x = x264[i]!;
        t.ok(Math.abs(c.start - x.start) <= pair.offset + 0.001, `segment ${c.msn} starts at ${c.start.toFixed(3)} / ${x.start.toFixed(3)} s`);
        t.ok(Math.abs(c.wallClockMs - x.wallClockMs) <= 1000 * pair.offset + 1, 'and has the same PROGRAM-DATE-TIME');
        if (i < copy.length - 1) t.ok(Math.abs(c.duration - x.duration) <= FRAME + 0.001, 'and lasts as long, within a frame');
      });
      if (minSegment === pair.td) t.ok(copy.length >= 3 && copy.slice(0, -1).every((s) => s.duration > pair.td - 0.1), 'one segment per GOP');
    });
  }
}

t.test('PROGRAM-DATE-TIME follows the media timeline and the wall clock', async (t) => {
  const { segments } = ladder(PAIRS[0]!, { seed: 31 });
  const segs = segments[0]!;
  for (let i = 1; i < segs.length; i++) {
    const gap = segs[i]!.wallClockMs - segs[i - 1]!.wallClockMs;
    t.ok(Math.abs(gap - 1000 * segs[i - 1]!.duration) <= 1, `segment ${segs[i]!.msn}: PDT = previous PDT + previous EXTINF`);
  }
  t.ok(Math.abs(segs[0]!.wallClockMs - START) < 2000, 'anchored to the clock the caller passed');
});
