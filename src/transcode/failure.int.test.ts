// ffmpeg failing on its own: restarted a bounded number of times, then the stream is failed with
// the reason. Fault injection: the worker finds an `ffmpeg` wrapper first on its PATH that
// crashes while a marker file says so and otherwise runs the real ffmpeg.
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { getText, publishTestPattern, testDir, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

const faultDir = testDir('fault');
const binDir = path.join(faultDir, 'bin');
mkdirSync(binDir);
const crashOnce = path.join(faultDir, 'crash-once');
const crashAlways = path.join(faultDir, 'crash-always');
writeFileSync(
  path.join(binDir, 'ffmpeg'),
  [
    '#!/bin/sh',
    `if [ -e ${crashAlways} ]; then echo "simulated encoder crash" >&2; exit 1; fi`,
    `if [ -e ${crashOnce} ]; then rm -f ${crashOnce}; echo "simulated encoder crash" >&2; exit 1; fi`,
    'exec /usr/bin/ffmpeg "$@"',
    '',
  ].join('\n'),
);
chmodSync(path.join(binDir, 'ffmpeg'), 0o755);

const stack = await startStack(t, { workers: 1, workerEnv: { PATH: `${binDir}:${process.env.PATH}` } });

t.test('an ffmpeg crash is followed by a restart and the stream goes live', async (t) => {
  writeFileSync(crashOnce, '');
  const s = await stack.createStream('crash-once');
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 40, videoKbps: 600 });
  await stack.waitForMaster(s.playbackId);
  // the master playlist is written just before the status is (a few ms apart)
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the stream to be live', timeoutMs: 5_000 });
  const sessions = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
  t.match(JSON.stringify(sessions.body.items[0].log), /Transcoder stopped unexpectedly \(exit code 1: simulated encoder crash\); restart 1 of 3/);
});

t.test('an ffmpeg that keeps crashing fails the stream with the reason', async (t) => {
  writeFileSync(crashAlways, '');
  t.teardown(() => rmSync(crashAlways, { force: true }));
  const s = await stack.createStream('crash-always');
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 40, videoKbps: 600 });
  const failed = await waitFor(async () => {
    const r = await stack.api('GET', `/streams/${s.id}`, undefined, stack.token);
    return r.body.status === 'failed' ? r.body : null;
  }, { what: 'the stream to fail', timeoutMs: 30_000 });
  t.match(failed.statusReason, /Transcoding failed 4 times; giving up\. Last error: exit code 1: simulated encoder crash/);
  const sessions = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
  const log = JSON.stringify(sessions.body.items[0].log);
  t.match(log, /restart 3 of 3/);
  t.match(log, /giving up/);
});

t.test('a broken live (left live by a power cut: no job, no ingest touching it) is ended by the workers’ sweep', async (t) => {
  const s = await stack.createStream('broken-live');
  // what a power cut leaves behind: the stream live on a publish session nobody touches any more,
  // its playlists without an end, and no job in the queue
  const { rows } = await stack.db.query(
    `INSERT INTO publish_sessions (stream_id, ingest_id, last_seen_at, live_at) VALUES ($1, 'ingest-gone', now() - interval '1 hour', now() - interval '1 hour') RETURNING id`,
    [s.id],
  );
  await stack.db.query(`UPDATE streams SET status = 'live', current_publish_session_id = $2 WHERE id = $1`, [s.id, rows[0].id]);
  const playlist = path.join(stack.mediaDir, 'hls', s.playbackId, '360p', 'index.m3u8');
  mkdirSync(path.dirname(playlist), { recursive: true });
  writeFileSync(playlist, '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.000,\nseg-0.ts\n');
  const thumbnail = path.join(stack.mediaDir, 'hls', s.playbackId, 'thumb.jpg');
  writeFileSync(thumbnail, 'the last picture before the power cut');
  // judged like a job judges its publisher: 15 s of missed touches on the worker's own clock
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'the broken live ended', timeoutMs: 60_000, intervalMs: 500 });
  const sessions = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
  t.equal(sessions.body.items[0].endReason, 'ingest_lost');
  t.match(JSON.stringify(sessions.body.items[0].log), /Nobody published this stream any more/);
  t.match(readFileSync(playlist, 'utf8'), /#EXT-X-ENDLIST\n$/, 'its playlist ended');
  t.notOk(existsSync(thumbnail), 'its thumbnail removed');
});

t.test('an ingest that dies mid-stream: the worker ends the publish and finishes the playlists', async (t) => {
  const s = await stack.createStream('ingest-crash');
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 60, videoKbps: 600 });
  await stack.waitForMaster(s.playbackId);
  stack.roles.find((r) => r.name === 'ingest')!.kill('SIGKILL');
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'offline after the ingest died', timeoutMs: 30_000, intervalMs: 500 });
  const sessions = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
  t.equal(sessions.body.items[0].endReason, 'ingest_lost');
  t.match((await getText(`${stack.base}/hls/${s.playbackId}/360p/index.m3u8`)).text, /#EXT-X-ENDLIST/);
});
