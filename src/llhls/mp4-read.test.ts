// The moov/moof readers against ffprobe's view of the same fixtures, and the ISO-BMFF fallbacks
// (trex → tfhd → trun, first_sample_flags, signed composition offsets) on hand-built boxes.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { BoxSplitter } from './mp4-boxes.js';
import { readMoov } from './moov.js';
import { readMoof } from './moof.js';
import { Mp4FormatError } from './errors.js';
import { FIXTURES, fixturePath, readFixture } from '../testing/llhls-fixtures.js';

interface Probed {
  streams: { index: number; codec_type: string; width?: number; height?: number; profile?: string; level?: number; time_base: string }[];
  packets: { stream_index: number; pts: number; dts: number; duration: number; flags: string; size: string }[];
}

function probe(name: string): Probed {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-show_packets', '-of', 'json', fixturePath(name)], { encoding: 'utf8' });
  return JSON.parse(out) as Probed;
}

for (const name of [FIXTURES.gop1Copy, FIXTURES.gop2bfCopy, FIXTURES.gop2bfX264]) {
  t.test(`${name}: tracks and samples read as ffprobe sees them`, async (t) => {
    const probed = probe(name);
    const boxes = new BoxSplitter().push(readFixture(name));
    const moov = boxes.find((b) => b.type === 'moov')!;
    const init = readMoov(moov.bytes.subarray(moov.headerSize));
    const pv = probed.streams.find((s) => s.codec_type === 'video')!;
    const video = init.video!;
    t.equal(video.handler, 'vide');
    t.equal(`1/${video.timescale}`, pv.time_base, 'mdhd timescale');
    t.same([video.width, video.height], [pv.width, pv.height], 'tkhd width/height');
    const level = Number.parseInt(video.codec!.slice(-2), 16);
    t.equal(level, pv.level, 'avcC level in the codec string');
    t.equal(video.codec!.slice(5, 7), { Baseline: '42', 'Constrained Baseline': '42', Main: '4d', High: '64' }[pv.profile!], 'avcC profile');
    const audio = [...init.tracks.values()].find((x) => x.handler === 'soun')!;
    t.equal(audio.codec, 'mp4a.40.2', 'AAC-LC from esds');

    const samples: { dts: number; pts: number; sync: boolean; size: number }[] = [];
    for (const b of boxes.filter((x) => x.type === 'moof')) {
      for (const run of readMoof(b.bytes.subarray(b.headerSize), (id) => init.tracks.get(id)?.defaults)) {
        if (run.trackId !== video.trackId) continue;
        let dts = run.baseMediaDecodeTime;
        for (const s of run.samples) {
          samples.push({ dts, pts: dts + s.cto - video.editShift, sync: s.sync, size: s.size });
          dts += s.duration;
        }
      }
    }
    const packets = probed.packets.filter((p) => p.stream_index === pv.index);
    t.equal(samples.length, packets.length, 'one sample per video packet');
    t.same(samples.map((s) => s.dts), packets.map((p) => p.dts), 'decode times (tfdt + durations)');
    t.same(samples.map((s) => s.pts), packets.map((p) => p.pts), 'presentation times (composition offsets)');
    t.same(samples.map((s) => s.sync), packets.map((p) => p.flags.startsWith('K')), 'sync samples = keyframes');
    t.same(samples.map((s) => s.size), packets.map((p) => Number(p.size)), 'sample sizes');
  });
}

// hand-built boxes for the fallbacks ffmpeg's output does not exercise
const u32 = (...v: number[]) => Buffer.concat(v.map((x) => { const b = Buffer.alloc(4); b.writeUInt32BE(x >>> 0); return b; }));
const i32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b; };
function box(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(8 + body.length), Buffer.from(type, 'latin1'), body]);
}

t.test('trex, tfhd and first_sample_flags fallbacks; signed composition offsets', async (t) => {
  const trex = { sampleDuration: 1000, sampleSize: 50, sampleFlags: 0x00010000 }; // non-sync by default
  const traf1 = box('traf',
    box('tfhd', u32(0x020000 | 0x08, 1, 512)), // default-base-is-moof, default duration 512
    box('tfdt', u32(0x01000000), Buffer.alloc(8, 0).fill(0x01, 7)), // version 1, 64-bit time 1
    box('trun', u32(0x01000000 | 0x04 | 0x200 | 0x800, 3), u32(0x02000000), u32(10), i32(-512), u32(20), i32(0), u32(30), i32(1024)),
  );
  const traf2 = box('traf', box('tfhd', u32(0x020000, 2)), box('tfdt', u32(0, 90000)), box('trun', u32(0, 2)));
  const runs = readMoof(Buffer.concat([box('mfhd', u32(0, 1)), traf1, traf2]), (id) => (id <= 2 ? trex : undefined));
  t.equal(runs.length, 2);
  t.equal(runs[0]!.baseMediaDecodeTime, 1);
  t.same(runs[0]!.samples.map((s) => [s.duration, s.size, s.cto, s.sync]), [
    [512, 10, -512, true], // first_sample_flags: a sync sample
    [512, 20, 0, false], // then trex's non-sync default
    [512, 30, 1024, false],
  ]);
  t.same(runs[1]!.samples.map((s) => [s.duration, s.size, s.sync]), [[1000, 50, false], [1000, 50, false]], 'trex defaults');

  const unknown = Buffer.concat([box('traf', box('tfhd', u32(0, 9)), box('tfdt', u32(0, 0)))]);
  t.equal(reasonOf(() => readMoof(unknown, () => undefined)), 'unexpected', 'a track the moov does not have');
  const short = box('traf', box('tfhd', u32(0x08, 1)), box('tfdt', u32(0, 0)));
  t.equal(reasonOf(() => readMoof(short, () => trex)), 'malformed', 'a tfhd shorter than its flags say');
  const overrun = box('traf', box('tfhd', u32(0, 1)), box('tfdt', u32(0, 0)), box('trun', u32(0x100, 5), u32(1)));
  t.equal(reasonOf(() => readMoof(overrun, () => trex)), 'malformed', 'a trun with fewer entries than its count');
  t.equal(reasonOf(() => readMoov(box('mvhd', u32(0)))), 'malformed', 'a moov without a track');
});

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof Mp4FormatError) return err.reason;
    throw err;
  }
  return 'no error';
}
