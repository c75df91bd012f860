// bench:glass's live source: Node draws raw yuv420p frames paced by the wall clock, each with
// its send time as a picture code (glass-code.ts) over a scrolling texture (so the encoder has
// real work), and ffmpeg encodes them like an OBS publisher (x264 veryfast zerolatency, no
// B-frames, fixed keyframe interval, CBR) and pushes FLV over RTMP. ffmpeg also writes the same
// FLV to its stdout, where the FLV tags are counted: frame k's tag arriving minus frame k's
// write time is the source's own capture-to-wire delay, the same for every side.
import type { Writable } from 'node:stream';
import { codeOfTime, drawCode, CODE_ROW_FRACTION, CODE_ROWS } from './glass-code.js';
import { startChild, type Child } from './common.js';

export interface GlassSourceSpec {
  width: number;
  height: number;
  fps: number;
  gopSeconds: number;
  videoKbps: number;
}

/** ffmpeg argv of the publisher: raw frames on stdin, FLV to `rtmpUrl` and to stdout (pure). */
export function publisherArgs(spec: GlassSourceSpec, rtmpUrl: string): string[] {
  const gop = String(Math.round(spec.fps * spec.gopSeconds));
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${spec.width}x${spec.height}`, '-framerate', String(spec.fps), '-i', 'pipe:0',
    '-map', '0:v',
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-bf', '0',
    '-g', gop, '-keyint_min', gop, '-sc_threshold', '0',
    '-b:v', `${spec.videoKbps}k`, '-maxrate', `${spec.videoKbps}k`, '-bufsize', `${spec.videoKbps}k`,
    // the tee muxer does not ask the encoder for global headers itself; FLV needs them
    '-flags', '+global_header',
    '-f', 'tee', `[f=flv:onfail=ignore]pipe:1|[f=flv]${rtmpUrl}`,
  ];
}

/** A scrolling texture: 16 × 16 blocks of smooth random greys, twice the frame width (pure, seeded). */
export function makeTexture(width: number, height: number): Buffer {
  const w2 = width * 2;
  const tex = Buffer.alloc(w2 * height);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 160) + 48;
  const cols = Math.ceil(w2 / 16);
  const rows = Math.ceil(height / 16);
  const cells = Array.from({ length: rows * cols }, rand);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < w2; x++) {
      const base = cells[Math.floor(y / 16) * cols + Math.floor(x / 16)]!;
      tex[y * w2 + x] = base + ((x + y) % 16); // a gradient inside each block: texture, not flat
    }
  }
  return tex;
}

/** One frame: the texture scrolled by `n` steps, the code of `sendMs` on top, grey chroma. */
export function drawFrame(frame: Buffer, o: { spec: GlassSourceSpec; texture: Buffer; n: number; sendMs: number }): void {
  const { width, height } = o.spec;
  const shift = (o.n * 8) % width;
  const codeRows = Math.floor(height * CODE_ROW_FRACTION) * CODE_ROWS;
  for (let y = codeRows; y < height; y++) o.texture.copy(frame, y * width, y * width * 2 + shift, y * width * 2 + shift + width);
  drawCode(frame, { width, height, value: codeOfTime(o.sendMs) });
}

export function frameBytes(spec: GlassSourceSpec): number {
  return spec.width * spec.height * 3 / 2;
}

/** Blank frame: luma filled later, chroma grey (128) for good. */
export function blankFrame(spec: GlassSourceSpec): Buffer {
  const f = Buffer.alloc(frameBytes(spec), 128);
  f.fill(0, 0, spec.width * spec.height);
  return f;
}

/**
 * Counts the video frames in an FLV byte stream (AVC NALU packets, not sequence headers) as
 * they arrive; `onFrame(k)` for the k-th (0-based). No B-frames, so decode order is send order.
 */
export class FlvFrameCounter {
  private buf: Buffer = Buffer.alloc(0);
  private headerDone = false;
  private frames = 0;
  constructor(private readonly onFrame: (k: number) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (!this.headerDone) {
      if (this.buf.length < 13) return;
      this.buf = this.buf.subarray(this.buf.readUInt32BE(5) + 4); // header + PreviousTagSize0
      this.headerDone = true;
    }
    while (this.buf.length >= 11) {
      const size = this.buf.readUIntBE(1, 3);
      if (this.buf.length < 11 + size + 4) return;
      const type = this.buf[0]! & 0x1f;
      if (type === 9 && size >= 2 && (this.buf[11]! & 0x0f) === 7 && this.buf[12] === 1) this.onFrame(this.frames++);
      this.buf = this.buf.subarray(11 + size + 4);
    }
  }
}

export interface GlassPublisher {
  child: Child;
  /** Frames written so far. */
  frames(): number;
  /** How far the source is behind its real-time schedule (s): > 0 when ffmpeg (or Node) could not keep up. */
  behindSeconds(): number;
  /** Capture-to-wire delays (ms) of the frames whose FLV tag came out, in order. */
  encodeDelaysMs(): number[];
  /** Stops writing frames and ends ffmpeg (its stdin closed, then SIGINT). */
  stop(): Promise<void>;
}

/** Starts the publisher: frames paced by the wall clock (late frames are sent at once, none dropped). */
export function startGlassPublisher(spec: GlassSourceSpec, rtmpUrl: string, texture: Buffer): GlassPublisher {
  const child = startChild('publisher', 'ffmpeg', publisherArgs(spec, rtmpUrl), { stdio: ['pipe', 'pipe', 'pipe'] });
  const writeTimes: number[] = [];
  const delays: number[] = [];
  const counter = new FlvFrameCounter((k) => {
    const sent = writeTimes[k];
    if (sent !== undefined) delays.push(Date.now() - sent);
  });
  child.process.stdout!.on('data', (c: Buffer) => counter.push(c));
  const stdin = child.process.stdin as Writable;
  stdin.on('error', () => undefined); // ffmpeg gone: the round notices through child.exited
  const frames = [blankFrame(spec), blankFrame(spec)]; // one being written while the next is drawn
  const started = performance.now();
  let n = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;

  const next = () => {
    timer = null;
    if (stopped || child.process.exitCode !== null) return;
    const frame = frames[n % 2]!;
    const sendMs = Date.now();
    drawFrame(frame, { spec, texture, n, sendMs });
    writeTimes.push(sendMs);
    n++;
    const ok = stdin.write(frame);
    const schedule = () => {
      if (stopped) return;
      const due = started + (n * 1000) / spec.fps;
      timer = setTimeout(next, Math.max(0, due - performance.now()));
    };
    if (ok) schedule();
    else stdin.once('drain', schedule);
  };
  next();

  return {
    child,
    frames: () => n,
    behindSeconds: () => Math.max(0, ((performance.now() - started) * spec.fps) / 1000 - n) / spec.fps,
    encodeDelaysMs: () => delays.slice(),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      stdin.end();
      const t = setTimeout(() => child.process.kill('SIGINT'), 3_000);
      const k = setTimeout(() => child.process.kill('SIGKILL'), 8_000);
      await child.exited;
      clearTimeout(t);
      clearTimeout(k);
    },
  };
}
