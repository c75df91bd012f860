import { spawnSync } from 'node:child_process';
import t from 'tap';
import { JpegSplitter } from './jpeg-splitter.js';

const seg = (marker: number, payload: number[]) => [0xff, marker, ((payload.length + 2) >> 8) & 0xff, (payload.length + 2) & 0xff, ...payload];

/**
 * A small hand-built picture with the traps a naive "search for FF D9" falls into: the bytes FF D9
 * inside an APP1 payload, a stuffed FF 00 and a restart marker inside the entropy-coded data,
 * two scans (progressive) with a table segment between them, fill bytes before EOI.
 */
function trickyJpeg(fill: number): Buffer {
  return Buffer.from([
    0xff, 0xd8,
    ...seg(0xe1, [0x45, 0x78, 0x69, 0x66, 0xff, 0xd9, 0xff, 0xd8, fill]), // APP1 holding FF D9 and FF D8
    ...seg(0xdb, [0x00, 1, 2, 3]),
    ...seg(0xda, [1, 1, 0, 0, 63, 0]),
    0x12, 0x34, 0xff, 0x00, 0x56, 0xff, 0xd3, 0x78, fill, // entropy data: stuffed FF, RST3
    ...seg(0xc4, [0x00, 9, 9]), // a table between two scans
    ...seg(0xda, [1, 1, 0, 0, 63, 0]),
    0x9a, 0xff, 0x00, 0xbc,
    0xff, 0xff, 0xd9, // a fill byte, then EOI
  ]);
}

function feed(splitter: JpegSplitter, data: Buffer, chunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) out.push(...splitter.push(data.subarray(i, i + chunk)));
  return out;
}

t.test('pictures back to back come out whole, whatever the chunk sizes', async (t) => {
  const pics = [trickyJpeg(1), trickyJpeg(2), trickyJpeg(3)];
  const stream = Buffer.concat(pics);
  for (const chunk of [1, 2, 3, 7, 16, stream.length]) {
    const s = new JpegSplitter(1024);
    const frames = feed(s, stream, chunk);
    t.same(frames.map((f) => f.toString('hex')), pics.map((p) => p.toString('hex')), `chunks of ${chunk} bytes`);
    t.equal(s.pendingBytes, 0, 'nothing left over');
    t.same(s.counts, { frames: 3, oversized: 0, skippedBytes: 0 });
  }
});

t.test('a picture is handed out only when its EOI has arrived', async (t) => {
  const pic = trickyJpeg(1);
  const s = new JpegSplitter(1024);
  t.same(s.push(pic.subarray(0, pic.length - 1)), [], 'no picture without its last byte');
  const [frame] = s.push(pic.subarray(pic.length - 1));
  t.same(frame, pic);
});

t.test('garbage before, between and inside pictures is skipped and the next picture found', async (t) => {
  const good = trickyJpeg(5);
  const broken = Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.from(seg(0xe0, [1, 2])), Buffer.from([0x00, 0x11, 0x22])]); // no marker where one is due
  const truncated = trickyJpeg(6).subarray(0, 20); // cut short: the next SOI starts a new picture
  const stream = Buffer.concat([Buffer.from('noise\xff'), good, Buffer.from([0x00, 0xff, 0x00]), broken, truncated, good]);
  for (const chunk of [1, 5, stream.length]) {
    const s = new JpegSplitter(1024);
    const frames = feed(s, stream, chunk);
    t.equal(frames.length, 2, `chunks of ${chunk}: the two good pictures`);
    for (const f of frames) t.same(f, good);
    t.ok(s.counts.skippedBytes > 0, 'the rest is counted as skipped');
  }
});

t.test('the buffer is bounded: an endless or oversized picture is dropped and the next one found', async (t) => {
  const s = new JpegSplitter(256);
  const endless = Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.from(seg(0xda, [1, 1, 0, 0, 63, 0]))]);
  t.same(s.push(endless), []);
  let most = 0;
  for (let i = 0; i < 100; i++) {
    t.same(s.push(Buffer.alloc(100, 0x42)), []);
    most = Math.max(most, s.pendingBytes);
  }
  t.ok(most <= 256 + 100, `never more than one picture plus a chunk held (${most} bytes)`);
  t.ok(s.counts.oversized >= 1, 'counted as oversized');
  const good = trickyJpeg(7);
  t.same(feed(s, good, 10), [good], 'the next picture comes through');
  // while nothing but noise arrives, nothing is kept at all
  const noise = new JpegSplitter(256);
  for (let i = 0; i < 100; i++) noise.push(Buffer.alloc(1000, 0x11));
  t.equal(noise.pendingBytes, 0);
});

t.test("ffmpeg's own mjpeg image2pipe output splits into its pictures", async (t) => {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=5', '-frames:v', '6', '-c:v', 'mjpeg', '-q:v', '5', '-f', 'image2pipe', 'pipe:1'], { maxBuffer: 16 * 1024 * 1024 });
  t.equal(r.status, 0, `ffmpeg ran: ${r.stderr?.toString()}`);
  const data = r.stdout;
  for (const chunk of [1, 333, 65536]) {
    const s = new JpegSplitter();
    const frames = feed(s, data, chunk);
    t.equal(frames.length, 6, `six pictures in chunks of ${chunk}`);
    t.same(Buffer.concat(frames), data, 'no byte lost or added');
    for (const f of frames) t.same([f[0], f[1], f[f.length - 2], f[f.length - 1]], [0xff, 0xd8, 0xff, 0xd9]);
    t.equal(s.counts.skippedBytes, 0);
  }
});
