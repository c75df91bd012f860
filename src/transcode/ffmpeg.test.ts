import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { parseProgressBlock, spawnFfmpeg } from './ffmpeg.js';

t.test('a -progress block', async (t) => {
  const block = ['frame=300', 'fps=29.97', 'stream_0_0_q=28.0', 'bitrate=5012.3kbits/s', 'total_size=1234', 'out_time_us=10010000', 'out_time_ms=10010000', 'out_time=00:00:10.010000', 'dup_frames=0', 'speed=1.01x', 'progress=continue'];
  t.same(parseProgressBlock(block), { fps: 29.97, speed: 1.01, bitrateKbps: 5012.3, outTimeSeconds: 10.01 });
  t.same(parseProgressBlock(['fps=0.00', 'bitrate=N/A', 'speed=N/A', 'out_time_us=N/A', 'progress=continue']), { fps: 0, speed: null, bitrateKbps: null, outTimeSeconds: null });
});

t.test("the stderr tail leaves out swscale's expected warning about the thumbnail's full-range format", async (t) => {
  // a stand-in binary that writes what ffmpeg writes on a run with a thumbnail, then fails
  const bin = path.join(mkdtempSync(path.join(tmpdir(), 'onair-ffmpeg-')), 'ffmpeg');
  writeFileSync(bin, [
    '#!/bin/sh',
    'echo "[swscaler @ 0x55643e2eddc0] [swscaler @ 0x55643e2fad80] deprecated pixel format used, make sure you did set range correctly" >&2',
    'echo "Error while decoding stream #0:0: Invalid data found when processing input" >&2',
    'echo "[swscaler @ 0x55643e2eddc0] deprecated pixel format used, make sure you did set range correctly" >&2',
    'exit 1',
    '',
  ].join('\n'));
  chmodSync(bin, 0o755);
  const exit = await spawnFfmpeg({ args: [], env: { PATH: process.env.PATH ?? '' }, binary: bin }).exited;
  t.equal(exit.code, 1);
  t.same(exit.stderrTail, ['Error while decoding stream #0:0: Invalid data found when processing input'], 'the real error is the last line');
});
