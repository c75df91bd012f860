// What a player does with the files: an init section plus any one segment, or plus the parts from
// an INDEPENDENT one on, must decode on its own. Checked with Debian's ffmpeg/ffprobe.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BoxSplitter } from './mp4-boxes.js';
import { LlSession } from './session.js';
import type { LlFile } from './types.js';
import { FIXTURES, feedLadder, readFixture } from '../testing/llhls-fixtures.js';

/** ffmpeg's decode errors (empty when clean), video frames decoded and video samples in the file. */
function decode(file: string): { errors: string; frames: number; samples: number } {
  const errors = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v', '-f', 'null', '-'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-count_packets', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,nb_read_packets', '-of', 'csv=p=0', file], { encoding: 'utf8' });
  const [frames, samples] = out.trim().split(',').map(Number);
  return { errors: errors.trim(), frames: frames!, samples: samples! };
}

for (const name of [FIXTURES.gop1Copy, FIXTURES.gop2bfCopy, FIXTURES.gop2bfX264]) {
  t.test(`${name}: init + each segment, and init + parts from an independent one, decode alone`, async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'llhls-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const session = new LlSession({ prefix: 'play', targetDuration: name === FIXTURES.gop1Copy ? 1 : 2 });
    const p = session.rendition('r');
    const bytes = readFixture(name);
    const files = feedLadder({ packagers: [p], inputs: [bytes], seed: 4, nowMs: 0 }).files[0]!;
    const byName = new Map<string, LlFile>(files.map((f) => [f.name, f]));
    const init = files.find((f) => f.kind === 'init')!;
    const boxes = new BoxSplitter().push(bytes);
    t.ok(init.bytes.equals(Buffer.concat(boxes.slice(0, 2).map((b) => b.bytes))), 'the init file is the stream\'s ftyp+moov');
    for (const seg of p.state().segments) {
      const file = path.join(dir, `${seg.msn}.mp4`);
      writeFileSync(file, Buffer.concat([init.bytes, byName.get(seg.name)!.bytes]));
      const got = decode(file);
      t.equal(got.errors, '', `segment ${seg.msn} decodes without errors`);
      t.ok(got.frames === got.samples && got.frames >= Math.floor(seg.duration * 30) - 1, `segment ${seg.msn}: all ${got.samples} video samples decode to frames`);
    }
    // a player joining at the live edge: the last segment's parts from its first independent one
    const last = p.state().segments.at(-1)!;
    const from = last.parts.findIndex((x) => x.independent);
    const partsFile = path.join(dir, 'parts.mp4');
    writeFileSync(partsFile, Buffer.concat([init.bytes, ...last.parts.slice(from).map((x) => byName.get(x.name)!.bytes)]));
    t.equal(decode(partsFile).errors, '', 'init + parts from an independent part decode without errors');
  });
}
