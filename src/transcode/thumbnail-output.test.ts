// The thumbnail output: the exact ffmpeg command it makes with the ladder (golden), and what it
// does with its picture over a broadcast's runs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { createLog } from '../log.js';
import { createMetrics } from '../metrics.js';
import { PROFILES_DIR } from '../paths.js';
import type { LiveTranscodeJob, SourceInfo } from '../streams/types.js';
import { thumbnailFile } from '../thumbnails.js';
import { buildFfmpegArgs, hlsSlaves, planLadder } from './ladder.js';
import { composeOutputs, type OutputRun, type TranscodeOutput } from './outputs.js';
import { loadProfile } from './profiles.js';
import { thumbnailArgs, thumbnailOutput } from './thumbnail-output.js';

const log = createLog({ level: 'silent', name: 'test' });
const def = await loadProfile(PROFILES_DIR, 'default');
const src1080: SourceInfo = { videoCodec: 'h264', audioCodec: 'aac', width: 1920, height: 1080, fps: 30, videoBitrateKbps: 4500, audioBitrateKbps: 128, avcProfile: { profileIdc: 100, constraints: 0, levelIdc: 41 } };
const input = 'rtmp://ingest:1935/internal/ps1?sig=S';
const job = { streamId: 's1', publishSessionId: 'ps1', playbackId: 'pb', profile: 'default' } as LiveTranscodeJob;
const argv = (text: string) => text.trim().split(/\s+/);

/** The ladder's own slaves, as the HLS output adds them (without touching a media dir). */
const ladder = (outDir: string): TranscodeOutput => ({
  name: 'hls',
  prepare: async (run, ff) => hlsSlaves({ profile: run.profile, plan: run.plan, outDir, resume: false, segmentTag: 'ab12cd34' }).forEach((s) => ff.slave(s)),
  status: () => ({ state: 'running' }),
});

const mediaDir = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-thumb-out-'));
  mkdirSync(path.join(dir, 'hls', 'pb'), { recursive: true });
  return dir;
};

t.test('golden: the ladder with its thumbnail, one decode, the tap off the 360p scale, a JPEG every 4 s on fd 3', async (t) => {
  const plan = planLadder(def, src1080);
  const outputs = composeOutputs({ primary: ladder('/m/hls/pb'), others: [thumbnailOutput({ job, mediaDir: mediaDir() })], log, note: async () => undefined });
  const adds = await outputs.prepare({ job, profile: def, plan, continuing: false, log } as OutputRun);
  t.equal(adds.pipeCount, 1);
  const args = buildFfmpegArgs({ profile: def, plan, inputUrl: input, slaves: adds.slaves, taps: adds.taps, outputs: adds.outputs });
  const at = args.indexOf('-filter_complex');
  t.same(args.slice(at, at + 2), ['-filter_complex',
    '[0:v:0]scale=1280:720:flags=bilinear,split=3[v_720p][s_480p][s_360p];[s_480p]scale=854:480:flags=bilinear[v_480p];[s_360p]scale=640:360:flags=bilinear,split=2[v_360p][tap_thumb]'],
  'the picture the 360p rung is encoded from, split once more: no second decode or scale');
  t.equal(args.filter((a) => a === '-i').length, 1, 'one input');
  const tee = args.indexOf('tee');
  t.same(args.slice(tee + 2), argv('-map [tap_thumb] -r 1/4 -c:v mjpeg -q:v 5 -pix_fmt yuvj420p -f image2pipe pipe:3'), 'the thumbnail output follows the ladder');
  t.notOk(args.slice(0, tee).includes('[tap_thumb]'), 'the ladder output does not map the tap');
});

t.test('the argv builder refuses what is not a tap label or a pipe', async (t) => {
  t.throws(() => thumbnailArgs({ tap: 'x];[0:v', pipe: 'pipe:3' }), /tap label/);
  t.throws(() => thumbnailArgs({ tap: 'tap_thumb', pipe: '/etc/passwd' }), /must be a pipe/);
});

t.test('pictures from the pipe land in the file; the end of the broadcast removes it, a restart keeps it', async (t) => {
  const media = mediaDir();
  const file = thumbnailFile(media, 'pb');
  const { metrics, registry } = createMetrics('worker', { processMetrics: false });
  const thumb = thumbnailOutput({ job, mediaDir: media, metrics });
  const outputs = composeOutputs({ primary: ladder('/m/hls/pb'), others: [thumb], log, note: async () => undefined });
  const run = { job, profile: def, plan: planLadder(def, src1080), continuing: false, log } as OutputRun;
  const pictures = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x90:rate=2', '-frames:v', '2', '-c:v', 'mjpeg', '-f', 'image2pipe', 'pipe:1']).stdout;

  writeFileSync(file, 'an earlier broadcast');
  await outputs.prepare(run);
  t.notOk(existsSync(file), 'a new broadcast starts without the last one’s picture');
  let pipe = new PassThrough();
  outputs.attachPipes([pipe]);
  pipe.end(pictures);
  await new Promise((r) => setTimeout(r, 100));
  t.same(readFileSync(file).subarray(0, 2), Buffer.from([0xff, 0xd8]), 'a JPEG in place');
  t.match(await registry.metrics(), /onair_thumbnails_written_total\{role="worker"\} [12]\n/, 'counted');
  await outputs.runEnded('restart');
  t.ok(existsSync(file), 'a restart keeps the picture until the next one');

  await outputs.prepare({ ...run, continuing: true });
  t.ok(existsSync(file), 'a continued broadcast keeps it too');
  pipe = new PassThrough();
  outputs.attachPipes([pipe]);
  pipe.end(pictures);
  await new Promise((r) => setTimeout(r, 100));
  t.match(thumb.status(), { state: 'running', detail: /^[2-4] pictures written$/ });
  await outputs.runEnded('ended');
  t.notOk(existsSync(file), 'the end of the broadcast removes it');
  t.equal(thumb.status().state, 'stopped');
});

t.test('a thumbnail that cannot be written fails alone: the pipe is drained, the ladder is not touched', async (t) => {
  const media = mkdtempSync(path.join(tmpdir(), 'onair-thumb-out-')); // no hls/<playbackId> directory: every write fails
  const thumb = thumbnailOutput({ job, mediaDir: media });
  const outputs = composeOutputs({ primary: ladder('/m/hls/pb'), others: [thumb], log, note: async () => undefined });
  await outputs.prepare({ job, profile: def, plan: planLadder(def, src1080), continuing: false, log } as OutputRun);
  const pipe = new PassThrough({ highWaterMark: 64 });
  outputs.attachPipes([pipe]);
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02, 0x11, 0xff, 0xd9]);
  for (let i = 0; i < 1000; i++) pipe.write(jpeg);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(pipe.writableLength, 0, 'everything read: ffmpeg never blocks on it');
  t.match(thumb.status(), { state: 'running', detail: /last write failed \(ENOENT\)/ });
  await outputs.runEnded('ended');
});
