// The picture code of bench:glass proven on a known picture: drawn into a 720p frame with the
// bench's own texture, scaled to 360p and compressed by a real ffmpeg (JPEG and H.264), read
// back exactly; a corrupted code is rejected, never misread.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readCode, codeOfTime, timeOfCode, CODE_COLUMNS, CODE_ROW_FRACTION } from './glass-code.js';
import { blankFrame, drawFrame, makeTexture, FlvFrameCounter, type GlassSourceSpec } from './glass-source.js';

const SPEC: GlassSourceSpec = { width: 1280, height: 720, fps: 30, gopSeconds: 1, videoKbps: 2500 };
const SEND_MS = 1_796_000_123_456; // a December 2026 Date.now(), beyond 2^32 ms on purpose

function run(args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => (err += c));
    p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`ffmpeg ${code}: ${err}`))));
    p.stdin.end(input);
  });
}

const rawIn = ['-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${SPEC.width}x${SPEC.height}`, '-framerate', '30', '-i', 'pipe:0'];
const grayOut = ['-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'];

function frameWith(sendMs: number, n = 7): Buffer {
  const frame = blankFrame(SPEC);
  drawFrame(frame, { spec: SPEC, texture: makeTexture(SPEC.width, SPEC.height), n, sendMs });
  return frame;
}

const reader = (gray: Buffer, width: number) => (x: number, y: number) => gray[y * width + x]!;

t.test('the send time survives 360p JPEG: exact value back', async (t) => {
  const jpeg = await run([...rawIn, '-vf', 'scale=640:360', '-q:v', '12', '-frames:v', '1', '-f', 'image2pipe', '-c:v', 'mjpeg', 'pipe:1'], frameWith(SEND_MS));
  const gray = await run(['-f', 'image2pipe', '-c:v', 'mjpeg', '-i', 'pipe:0', ...grayOut], jpeg);
  t.equal(gray.length, 640 * 360, 'one 360p picture');
  const code = readCode(reader(gray, 640), 640, 360);
  t.equal(code, codeOfTime(SEND_MS), 'the code read back is the one drawn');
  t.equal(timeOfCode(code!, SEND_MS + 1234), SEND_MS, 'unwrapped with a later clock: the exact send time');
});

t.test('the send time survives 360p H.264 at a low bitrate, frame by frame', async (t) => {
  const frames = [0, 1, 2, 3, 4].map((i) => frameWith(SEND_MS + i * 33, i));
  const h264 = await run([...rawIn, '-vf', 'scale=640:360', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-b:v', '300k', '-f', 'h264', 'pipe:1'], Buffer.concat(frames));
  const gray = await run(['-f', 'h264', '-i', 'pipe:0', ...grayOut], h264);
  t.equal(gray.length, 5 * 640 * 360, 'five 360p pictures');
  for (let i = 0; i < 5; i++) {
    const pic = gray.subarray(i * 640 * 360, (i + 1) * 640 * 360);
    t.equal(readCode(reader(pic, 640), 640, 360), codeOfTime(SEND_MS + i * 33), `frame ${i}`);
  }
});

t.test('a corrupted code is rejected, not misread', async (t) => {
  const frame = frameWith(SEND_MS);
  const w = SPEC.width;
  const rowHeight = Math.floor(SPEC.height * CODE_ROW_FRACTION);
  const block = (c: number, r: number) => ({ x0: Math.floor((c * w) / CODE_COLUMNS), x1: Math.floor(((c + 1) * w) / CODE_COLUMNS), y0: r * rowHeight });
  t.equal(readCode(reader(frame, w), w, SPEC.height), codeOfTime(SEND_MS), 'the clean frame reads');

  const flipped = Buffer.from(frame);
  const b = block(5, 0);
  const wasWhite = flipped[(b.y0 + 5) * w + b.x0 + 5]! > 128;
  for (let y = b.y0; y < b.y0 + rowHeight; y++) flipped.fill(wasWhite ? 16 : 235, y * w + b.x0, y * w + b.x1);
  t.equal(readCode(reader(flipped, w), w, SPEC.height), null, 'one block flipped: the CRC rejects it');

  const grey = Buffer.from(frame);
  const g = block(30 % CODE_COLUMNS, 1);
  for (let y = g.y0; y < g.y0 + rowHeight; y++) grey.fill(126, y * w + g.x0, y * w + g.x1);
  t.equal(readCode(reader(grey, w), w, SPEC.height), null, 'one block grey (a half-decoded picture): rejected');

  const noCode = Buffer.alloc(w * SPEC.height, 100);
  t.equal(readCode(reader(noCode, w), w, SPEC.height), null, 'a picture without a code');
});

t.test('unwrapping a code near the 2^32 ms wrap', async (t) => {
  const sent = 4294967296 * 418 + 4294967290;
  t.equal(timeOfCode(codeOfTime(sent), sent + 20), sent, 'the clock wrapped between send and read');
});

t.test('the FLV frame counter counts video frames, not sequence headers or audio, across chunk boundaries', async (t) => {
  const tag = (type: number, body: number[]) => {
    const h = Buffer.alloc(11);
    h[0] = type;
    h.writeUIntBE(body.length, 1, 3);
    const prev = Buffer.alloc(4);
    prev.writeUInt32BE(11 + body.length);
    return Buffer.concat([h, Buffer.from(body), prev]);
  };
  const header = Buffer.from([0x46, 0x4c, 0x56, 1, 1, 0, 0, 0, 9, 0, 0, 0, 0]);
  const flv = Buffer.concat([header, tag(9, [0x17, 0, 0, 0, 0]), tag(9, [0x17, 1, 0, 0, 0, 9]), tag(8, [0xaf, 1, 3]), tag(9, [0x27, 1, 0, 0, 0, 9, 9])]);
  const seen: number[] = [];
  const counter = new FlvFrameCounter((k) => seen.push(k));
  for (let i = 0; i < flv.length; i += 7) counter.push(flv.subarray(i, i + 7));
  t.same(seen, [0, 1], 'two frames; the sequence header and the audio tag do not count');
});
