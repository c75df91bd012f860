// Real image files for upload tests, made by ffmpeg from its test pattern (no checked-in binaries).
import { spawn } from 'node:child_process';

export type TestImageKind = 'png' | 'jpeg' | 'webp' | 'webp-lossless' | 'gif';

const CODEC: Record<TestImageKind, string[]> = {
  png: ['-c:v', 'png'],
  jpeg: ['-c:v', 'mjpeg', '-pix_fmt', 'yuvj420p'],
  webp: ['-c:v', 'libwebp'],
  'webp-lossless': ['-c:v', 'libwebp', '-lossless', '1'],
  gif: ['-c:v', 'gif'],
};

/**
 * One picture of the given kind and size. `seed` changes the pixels (other bytes, another hash);
 * `noise` makes them incompressible (a large file from a small picture).
 */
export function testImage(kind: TestImageKind, o: { width: number; height: number; seed?: number; noise?: boolean }): Promise<Buffer> {
  const { width, height } = o;
  const filters = [`trim=start_frame=${o.seed ?? 0}`, `scale=${width}:${height}`, ...(o.noise ? ['noise=alls=100:allf=t'] : [])].join(',');
  const args = ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${width + (width % 2)}x${height + (height % 2)}:rate=25`, '-vf', filters, '-frames:v', '1', ...CODEC[kind], '-f', 'image2pipe', '-'];
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`ffmpeg ${kind} ${width}x${height}: ${err}`))));
  });
}

/** A PNG whose header claims the given size (its pixels are not there: enough for the header checks). */
export function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]); // CRC not checked here
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', Buffer.alloc(10)), chunk('IEND', Buffer.alloc(0))]);
}
