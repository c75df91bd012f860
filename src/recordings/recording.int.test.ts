// Recordings end to end: a real publish over RTMP, real workers (one killed with SIGKILL), the
// recording output keeping the ladder's segments, the finalise job on a worker, ffprobe on what
// a replay and a download would get. Real Postgres, Redis, nginx, ffmpeg.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { probeVideo, publishTestPattern, run, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { parseSegments } from './playlist.js';

const stack = await startStack(t, { workers: 2 });
const recordingsDir = path.join(stack.dataDir, 'recordings'); // RECORDINGS_DIR's default: DATA_DIR/recordings
const keys: string[] = [];
const RUNGS = [['720p', 1280, 720], ['480p', 854, 480], ['360p', 640, 360]] as const;

async function recordingsOf(streamId: string) {
  const { rows } = await stack.db.query(`SELECT id, session_id, status, duration_seconds, size_bytes, renditions, status_reason FROM recordings WHERE stream_id = $1 ORDER BY started_at, created_at`, [streamId]);
  return rows;
}

const listed = (file: string) => (existsSync(file) ? parseSegments(readFileSync(file, 'utf8')) : []);

async function mp4Duration(file: string): Promise<number> {
  const r = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file]);
  return Number(r.stdout.trim());
}

/** Every top-rung segment the live playlist lists while `until` is pending, with its duration. */
function watchLive(playbackId: string, rung: string) {
  const seen = new Map<string, number>();
  let on = true;
  const file = path.join(stack.mediaDir, 'hls', playbackId, rung, 'index.m3u8');
  const done = (async () => {
    while (on) {
      for (const s of listed(file)) seen.set(s.name, s.seconds);
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return { seen, stop: async () => ((on = false), await done) };
}

t.test('record is a stream setting: POST and PATCH take it, the answer shows it (unset: RECORD_BY_DEFAULT, false here)', async (t) => {
  const plain = await stack.createStream('plain');
  t.equal((plain as any).record, false);
  const made = await stack.api('POST', '/streams', { title: 'recorded', record: true }, stack.token);
  t.equal(made.status, 201);
  t.equal(made.body.record, true);
  const off = await stack.api('PATCH', `/streams/${made.body.id}`, { record: false }, stack.token);
  t.same([off.status, off.body.record], [200, false]);
  t.equal((await stack.api('GET', `/streams/${made.body.id}`, undefined, stack.token)).body.record, false);
  const bad = await stack.api('PATCH', `/streams/${made.body.id}`, { record: 'yes' }, stack.token);
  t.equal(bad.status, 400);
  t.match(JSON.stringify(bad.body), /record must be true or false/);
});

t.test('recorded while live; a worker SIGKILLed mid-recording loses at most a few seconds (another continues); the finalised MP4 and VOD replay decode at the live’s rungs and duration', async (t) => {
  const made = await stack.api('POST', '/streams', { title: 'recorded live', record: true }, stack.token);
  const s = made.body;
  keys.push(s.streamKey);
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 1280, height: 720, fps: 10, seconds: 40, videoKbps: 1500 });
  await stack.waitForMaster(s.playbackId);
  const live = watchLive(s.playbackId, '720p');

  // while live: one recording, its EVENT playlists growing at every rung
  const first = await waitFor(async () => {
    const [r] = await recordingsOf(s.id);
    return r && listed(path.join(recordingsDir, r.id, '360p', 'index.m3u8')).length >= 3 ? r : null;
  }, { what: 'a recording with segments while live', timeoutMs: 30_000 });
  t.equal(first.status, 'recording');
  t.same(first.renditions.map((r: { name: string }) => r.name), RUNGS.map((r) => r[0]));
  t.match(readFileSync(path.join(recordingsDir, first.id, '720p', 'index.m3u8'), 'utf8'), /#EXT-X-PLAYLIST-TYPE:EVENT\n/);
  t.notOk(existsSync(path.join(stack.mediaDir, 'hls', s.playbackId, first.id)), 'nothing of the recording under the live dir');

  // the worker running it dies hard; another takes the stream and the recording over
  const victimName = await stack.currentWorker(s.id);
  const victim = stack.roles.find((r) => r.name === victimName)!;
  victim.kill('SIGKILL');
  stack.addWorker(`${victimName}-restarted`);
  await waitFor(async () => {
    const pl = readFileSync(path.join(recordingsDir, first.id, '720p', 'index.m3u8'), 'utf8');
    return pl.includes('#EXT-X-DISCONTINUITY');
  }, { what: 'the recording to go on after a discontinuity', timeoutMs: 30_000 });

  await pub.exited;
  const ready = await waitFor(async () => {
    const rows = await recordingsOf(s.id);
    return rows.length === 1 && (rows[0].status === 'ready' || rows[0].status === 'failed') ? rows[0] : null;
  }, { what: 'the recording to be finalised', timeoutMs: 60_000 });
  await live.stop();
  t.equal(ready.id, first.id, 'the same recording all through');
  t.equal(ready.status, 'ready', ready.status_reason ?? '');
  const dir = path.join(recordingsDir, ready.id);

  const kept = new Set(listed(path.join(dir, '720p', 'index.m3u8')).map((x) => x.name));
  const lost = [...live.seen.keys()].filter((n) => !kept.has(n));
  t.ok(lost.length <= 2, `of ${live.seen.size} live segments, ${lost.length} missing from the recording (${lost.join(', ')})`);
  const liveSeconds = [...live.seen.values()].reduce((a, b) => a + b, 0);

  const mp4 = path.join(dir, 'recording.mp4');
  const duration = await mp4Duration(mp4);
  t.ok(Math.abs(duration - liveSeconds) <= 2 + 0.1, `the MP4 lasts ${duration} s, the live ${liveSeconds} s (± one segment)`);
  t.ok(Math.abs(Number(ready.duration_seconds) - duration) <= 2.1, `the row says ${ready.duration_seconds} s`);
  const v = await probeVideo(mp4);
  t.same([v.codec, v.width, v.height, v.decodedOk], ['h264', 1280, 720, true], 'the MP4 decodes, top rung');
  const seek = await run('ffmpeg', ['-v', 'error', '-ss', String(Math.floor(duration / 2)), '-i', mp4, '-frames:v', '1', '-f', 'null', '-']);
  t.equal(seek.code, 0, 'and seeks');

  const master = readFileSync(path.join(dir, 'master.m3u8'), 'utf8');
  for (const [name, w, h] of RUNGS) {
    t.match(master, new RegExp(`RESOLUTION=${w}x${h},[^\\n]*\\n${name}/index\\.m3u8`), `${name} in the replay's master`);
    const playlist = path.join(dir, name, 'index.m3u8');
    const text = readFileSync(playlist, 'utf8');
    t.match(text, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
    t.match(text, /#EXT-X-ENDLIST\n$/);
    const r = await probeVideo(playlist);
    t.same([r.codec, r.width, r.height, r.decodedOk], ['h264', w, h, true], `the ${name} replay decodes at ${w}x${h}`);
  }
  t.equal(readFileSync(path.join(dir, 'poster.jpg')).subarray(0, 2).toString('hex'), 'ffd8', 'a poster JPEG');
  const bytes = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
  t.ok(Number(ready.size_bytes) > 0 && bytes > 10, `size ${ready.size_bytes} bytes`);
  const log = (await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token)).body.items[0].log.map((l: { message: string }) => l.message);
  t.ok(log.includes('Recording started.'), 'the publish log says it records');

  // what the writer left is what the serving half lists and nginx serves
  const listedItem = (await stack.api('GET', `/streams/${s.id}/recordings`, undefined, stack.token)).body.items[0];
  t.match(listedItem, { id: ready.id, status: 'ready', renditions: RUNGS.map(([name, width, height]) => ({ name, width, height })) });
  await waitFor(async () => (await fetch(listedItem.replayUrl)).status === 200, { what: 'the replay through nginx', timeoutMs: 20_000, intervalMs: 250 });
  const replay = await probeVideo(listedItem.replayUrl);
  t.same([replay.codec, replay.decodedOk], ['h264', true], 'the replay plays through nginx');
  const download = await fetch(listedItem.downloadUrl);
  t.same([download.status, download.headers.get('content-type')], [200, 'video/mp4']);
  t.equal((await download.arrayBuffer()).byteLength, readFileSync(mp4).byteLength, 'the download is the MP4');
});

t.test('a recording is split where the broadcast moves to another session', async (t) => {
  const made = await stack.api('POST', '/streams', { title: 'two sessions', record: true }, stack.token);
  const s = made.body;
  keys.push(s.streamKey);
  const { session: a } = await stack.liveSessionOn(s.id, 'First event');
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 30, videoKbps: 600 });
  await stack.waitForMaster(s.playbackId);
  await waitFor(async () => {
    const [r] = await recordingsOf(s.id);
    return r && listed(path.join(recordingsDir, r.id, '360p', 'index.m3u8')).length >= 3;
  }, { what: 'the first session’s recording', timeoutMs: 30_000 });
  // the next session on this stream starts now: the first one's window closes
  const { rows: [b] } = await stack.db.query(
    `INSERT INTO event_sessions (event_id, title, starts_at, ends_at, stream_id) VALUES ($1, 'Next', now(), now() + interval '1 hour', $2) RETURNING id`,
    [a.eventId ?? (await stack.db.query(`SELECT event_id FROM event_sessions WHERE id = $1`, [a.id])).rows[0].event_id, s.id],
  );
  await stack.db.query(`UPDATE event_sessions SET ends_at = now() WHERE id = $1`, [a.id]);
  await pub.exited;
  const rows = await waitFor(async () => {
    const rs = await recordingsOf(s.id);
    return rs.length === 2 && rs.every((r) => r.status === 'ready') ? rs : null;
  }, { what: 'two finalised recordings', timeoutMs: 60_000 });
  t.same(rows.map((r) => r.session_id), [a.id, b.id], 'one per session, in order');
  const [inA, inB] = rows.map((r) => listed(path.join(recordingsDir, r.id, '360p', 'index.m3u8')).map((x) => x.name));
  t.ok(inA!.length >= 3 && inB!.length >= 3, `${inA!.length} and ${inB!.length} segments`);
  t.same(inA!.filter((n) => inB!.includes(n)), [], 'no segment in both');
  t.ok(inA![inA!.length - 1]! < inB![0]!, 'the second starts where the first stopped');
});

t.test('no recording failed, and no stream key is in any log', async (t) => {
  const logs = stack.allLogs();
  t.notMatch(logs, /Recording stopped: it failed/);
  for (const key of keys) t.notOk(logs.includes(key), 'key not logged');
});
