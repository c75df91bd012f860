// The disk guard on a real stack: a recordings disk below RECORDING_MIN_FREE_MB (here a floor no
// disk reaches) keeps recordings from starting, says so in the publish log, and the live stream
// is not harmed.
import t from 'tap';
import { getText, publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

// 1 PiB free would be needed: every disk is below it
// RECORD_BY_DEFAULT: a stream whose `record` is unset records (the api shows it, the ingest's job carries it)
const stack = await startStack(t, { workers: 1, extraEnv: { RECORD_BY_DEFAULT: 'true' }, workerEnv: { RECORDING_MIN_FREE_MB: String(1024 * 1024 * 1024) } });

t.test('below the free-space floor a recorded stream goes live and plays, unrecorded, with a line in its publish log', async (t) => {
  const made = await stack.api('POST', '/streams', { title: 'no room' }, stack.token);
  const s = made.body;
  t.equal(s.record, true, 'unset: RECORD_BY_DEFAULT');
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 20, videoKbps: 600 });
  await stack.waitForMaster(s.playbackId);
  const line = await waitFor(async () => {
    const items = (await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token)).body.items;
    return items[0]?.log.find((l: { message: string }) => l.message.startsWith('Recording stopped:')) ?? null;
  }, { what: 'the disk guard’s line in the publish log', timeoutMs: 20_000 });
  t.equal(line.level, 'warn');
  const log = (await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token)).body.items[0].log.map((l: { message: string }) => l.message);
  t.ok(log.some((m: string) => /Transcoding queued, recorded\.$/.test(m)), 'the job records');
  t.match(line.message, /^Recording stopped: the recordings disk has \d+ MB free, below the floor of 1073741824 MB \(RECORDING_MIN_FREE_MB\)\. The live stream goes on\.$/);
  t.equal(await stack.streamStatus(s.id), 'live');
  // the live goes on: new segments keep coming
  const playlist = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  const before = (await getText(playlist)).text;
  await waitFor(async () => (await getText(playlist)).text !== before, { what: 'new live segments', timeoutMs: 10_000 });
  const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM recordings WHERE stream_id = $1`, [s.id]);
  t.equal(rows[0].n, 0, 'no recording started');
  await pub.exited;
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'offline after the publish', timeoutMs: 15_000 });
  t.notMatch(stack.allLogs(), /output failed/, 'no output failed: the guard stopped it cleanly');
});
