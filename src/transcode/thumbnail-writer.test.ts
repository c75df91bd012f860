import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { silentLog } from '../log.js';
import { JpegSplitter } from './jpeg-splitter.js';
import { removeThumbnail, startThumbnailWriter } from './thumbnail-writer.js';

/** Three real, different pictures as ffmpeg's image2pipe writes them, and each one alone. */
const stream = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=2', '-frames:v', '3', '-c:v', 'mjpeg', '-f', 'image2pipe', 'pipe:1']).stdout;
const pictures = new JpegSplitter().push(stream);

const dir = () => mkdtempSync(path.join(tmpdir(), 'onair-thumbs-'));

t.test('the newest picture lands in the file, whole; nothing half-written is left', async (t) => {
  t.equal(pictures.length, 3);
  const file = path.join(dir(), 'thumb.jpg');
  const input = new PassThrough();
  let told = 0;
  const w = startThumbnailWriter({ input, file, log: silentLog(), onWritten: () => (told += 1) });
  for (let i = 0; i < stream.length; i += 1000) input.write(stream.subarray(i, i + 1000));
  input.end();
  await w.done;
  t.same(readFileSync(file), pictures[2], 'the last picture');
  const s = w.status();
  t.ok(s.written >= 1 && s.written <= 3, `${s.written} written (older ones may be skipped while a write runs)`);
  t.equal(told, s.written, 'each write is told (the metric)');
  t.equal(s.failures, 0);
  t.same(readdirSync(path.dirname(file)), ['thumb.jpg'], 'no temp file left');
  await removeThumbnail(file);
  t.notOk(existsSync(file), 'removed at the end of a broadcast');
  await removeThumbnail(file); // again: nothing to do, no error
});

t.test('a disk that refuses the file costs the pictures, never the reading', async (t) => {
  const file = path.join(dir(), 'missing-dir', 'thumb.jpg');
  const input = new PassThrough({ highWaterMark: 1024 });
  const w = startThumbnailWriter({ input, file, log: silentLog() });
  for (let i = 0; i < 50; i++) input.write(stream);
  await new Promise((r) => setImmediate(r));
  t.equal(input.writableLength, 0, 'everything was read: ffmpeg would never block on this pipe');
  input.end();
  await w.done;
  const s = w.status();
  t.ok(s.failures >= 1, `failures counted (${s.failures})`);
  t.equal(s.written, 0);
  t.equal(s.lastError, 'ENOENT');
});

t.test('after close, pictures are still read but no longer written', async (t) => {
  const file = path.join(dir(), 'thumb.jpg');
  const input = new PassThrough();
  const w = startThumbnailWriter({ input, file, log: silentLog() });
  input.write(pictures[0]);
  await new Promise((r) => setTimeout(r, 50));
  await w.close();
  t.same(readFileSync(file), pictures[0]);
  input.write(pictures[1]);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(input.writableLength, 0, 'read');
  t.same(readFileSync(file), pictures[0], 'not written');
  input.end();
  await w.done;
});
