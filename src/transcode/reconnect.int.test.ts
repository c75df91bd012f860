// Reconnects viewers never notice: a publisher that drops and comes back with its key within
// RECONNECT_GRACE_SECONDS continues the same publish and the same playlists (after
// EXT-X-DISCONTINUITY, never an ENDLIST in between) while a real player — hls.js in Debian's
// Chromium, through nginx, on a viewer's personal URL — plays on without reloading. One that does
// not come back ends when the grace runs out. A new publisher takes over a silent connection at
// once, and a reconnect at another resolution gets a ladder whose master matches what is written.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { launchChromium, openHlsPlayer } from '../testing/browser.js';
import { freePort } from '../local/processes.js';
import { getText, publishTestPattern, spawnRole, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { joinedSession } from '../testing/ws.js';

const GRACE = 10; // seconds: longer than the drill's 5 s away, short enough for the suite
// a second ingest (its own RTMP port) for the takeover across ingests: the worker may pull from both
const rtmpPort2 = await freePort();
const stack = await startStack(t, { workers: 1, extraEnv: { RECONNECT_GRACE_SECONDS: String(GRACE) }, workerEnv: { INGEST_PULL_HOSTS: `127.0.0.1,127.0.0.1:${rtmpPort2}` } });
const ingest2 = spawnRole(t, 'ingest', { ...stack.env, RTMP_PORT: String(rtmpPort2), INSTANCE_ID: 'ingest-2' }, 'ingest-2');
await waitFor(() => ingest2.output().includes('RTMP ingest listening'), { what: 'the second ingest' });
const keys: string[] = [];

const segmentsOf = (playlist: string) => playlist.split('\n').filter((l) => l.endsWith('.ts'));
/** Segments listed after the playlist's last discontinuity (none when it has none). */
function afterDiscontinuity(playlist: string): string[] {
  const i = playlist.lastIndexOf('#EXT-X-DISCONTINUITY\n');
  return i < 0 ? [] : segmentsOf(playlist.slice(i));
}
async function publishLog(streamId: string) {
  const r = await stack.api('GET', `/streams/${streamId}/sessions`, undefined, stack.token);
  return r.body.items as { id: string; endReason: string | null; log: { message: string }[] }[];
}

t.test('a publisher killed and back after 5 s: the player plays new frames without a reload; status reconnecting, then live', async (t) => {
  const made = await stack.api('POST', '/streams', { title: 'reconnect drill', record: true }, stack.token);
  const s = made.body as { id: string; streamKey: string; playbackId: string };
  keys.push(s.streamKey);
  const { session } = await stack.liveSessionOn(s.id, 'Reconnect drill');
  const ws = await joinedSession(`ws://127.0.0.1:${stack.apiPort}/ws`, stack.token, session.id);
  t.teardown(() => ws.close());
  const publish = () => publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 15, seconds: 180, videoKbps: 600 });
  const first = publish();
  await stack.waitForMaster(s.playbackId);
  const viewer = await stack.api('GET', `/sessions/${session.id}`, undefined, stack.token);
  t.match(viewer.body, { streamStatus: 'live', live: true });

  const browser = await launchChromium(t);
  const player = await openHlsPlayer(t, browser, { origin: stack.base, hlsUrl: viewer.body.playbackUrl });
  await player.waitUntil((f) => f.currentTime >= 4, { what: 'the player to play 4 s', timeoutMs: 40_000 });

  await first.stop(); // SIGKILL: the encoder's connection breaks
  const droppedAt = Date.now();
  const before = await player.facts();
  const playlistUrl = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'reconnecting', { what: 'reconnecting', timeoutMs: 5_000, intervalMs: 100 });
  const away = await stack.api('GET', `/sessions/${session.id}`, undefined, stack.token);
  t.match(away.body, { streamStatus: 'reconnecting', live: true }, 'viewers are told it is reconnecting, and live stays true');
  const reconnecting = await ws.next((f) => f.type === 'stream:status' && f.status === 'reconnecting', { timeoutMs: 5_000 });
  t.same(reconnecting.renditions, [{ name: '360p', width: 640, height: 360 }], 'the renditions go on');
  // while the publisher is away the playlists do not end
  for (let i = 0; i < 8; i++) {
    t.notMatch((await getText(playlistUrl)).text, /#EXT-X-ENDLIST/, 'no ENDLIST during the grace');
    await new Promise((r) => setTimeout(r, 500));
  }

  await new Promise((r) => setTimeout(r, Math.max(0, 5_000 - (Date.now() - droppedAt))));
  publish(); // the encoder reconnects, 5 s after it dropped
  const live = await ws.next((f) => f.type === 'stream:status' && f.status === 'live', { from: ws.frames.indexOf(reconnecting), timeoutMs: 30_000 });
  t.same(live.renditions, [{ name: '360p', width: 640, height: 360 }], 'live again');
  const playlist = await waitFor(async () => {
    const text = (await getText(playlistUrl)).text;
    return afterDiscontinuity(text).length > 0 ? text : null;
  }, { what: 'new segments after a discontinuity', timeoutMs: 20_000 });
  t.notMatch(playlist, /#EXT-X-ENDLIST/);

  // the player's position passes everything the first publisher wrote (a playlist holds 6 × 2 s
  // behind the edge) only by playing frames of the second one
  const after = await player.waitUntil((f) => f.currentTime >= before.currentTime + 14 || f.fatal, { what: 'the player to play the reconnected stream', timeoutMs: 60_000 });
  t.equal(after.fatal, false, `no fatal player error (${JSON.stringify(after.errors)})`);
  t.ok(after.totalVideoFrames > before.totalVideoFrames + 14 * 10, `new frames decoded (${before.totalVideoFrames} → ${after.totalVideoFrames})`);
  t.equal(after.loads, 1, 'the page never reloaded');
  const later = await player.waitUntil((f) => f.currentTime >= after.currentTime + 2, { what: 'the player to keep playing', timeoutMs: 20_000 });
  t.ok(later.totalVideoFrames > after.totalVideoFrames, 'and keeps playing');

  const sessions = await publishLog(s.id);
  t.equal(sessions.length, 1, 'one publish: the reconnect continued it');
  t.equal(sessions[0]!.endReason, null);
  const log = JSON.stringify(sessions[0]!.log);
  t.match(log, /connection was lost \(publisher_left\); the broadcast waits 10 s/);
  t.match(log, /The publisher is back \(connection 2\)/);
  const statuses = ws.frames.filter((f) => f.type === 'stream:status').map((f) => f.status);
  t.same(statuses.slice(statuses.indexOf('reconnecting')), ['reconnecting', 'live'], 'each transition announced once');

  // the stream is recorded: the reconnect continues the same recording, after a discontinuity
  const recordings = await stack.db.query(`SELECT id, status FROM recordings WHERE stream_id = $1`, [s.id]);
  t.same(recordings.rows.map((r) => r.status), ['recording'], 'one recording, still open');
  const recorded = path.join(stack.dataDir, 'recordings', recordings.rows[0].id, '360p', 'index.m3u8');
  await waitFor(() => existsSync(recorded) && afterDiscontinuity(readFileSync(recorded, 'utf8')).length > 0, { what: 'the recording to continue after the reconnect', timeoutMs: 15_000 });
  t.pass('the recording continues after a discontinuity');
});

t.test('a publisher that does not come back: the stream ends when the grace runs out', async (t) => {
  const s = await stack.createStream('no return');
  keys.push(s.streamKey);
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 500 });
  await stack.waitForMaster(s.playbackId);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live', timeoutMs: 10_000 });
  await pub.stop();
  const leftAt = Date.now();
  const playlistUrl = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'offline', timeoutMs: (GRACE + 10) * 1000, intervalMs: 200 });
  const endedAfter = Date.now() - leftAt;
  t.match((await getText(playlistUrl)).text, /#EXT-X-ENDLIST\n$/, 'the playlists end');
  t.ok(endedAfter >= (GRACE - 1) * 1000, `not before the grace (${endedAfter} ms)`);
  t.ok(endedAfter <= (GRACE + 5) * 1000, `within grace + 5 s (${endedAfter} ms)`);
  const sessions = await publishLog(s.id);
  t.equal(sessions[0]!.endReason, 'reconnect_timeout');
  t.match(JSON.stringify(sessions[0]!.log), /did not come back within the reconnect grace/);
});

t.test('a new publisher with the key takes over a silent connection at once (a network drop leaves the old socket open)', async (t) => {
  const s = await stack.createStream('silent takeover');
  keys.push(s.streamKey);
  const old = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 500 });
  await stack.waitForMaster(s.playbackId);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live', timeoutMs: 10_000 });
  old.child.kill('SIGSTOP'); // its socket stays open and silent, as after a network drop
  t.teardown(() => void old.child.kill('SIGCONT'));
  await new Promise((r) => setTimeout(r, 4_000)); // silent past the takeover threshold, well within the 10 s idle limit
  const next = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 500 });
  const playlistUrl = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  await waitFor(async () => afterDiscontinuity((await getText(playlistUrl)).text).length > 0, { what: 'the new publisher’s segments', timeoutMs: 20_000 });
  t.equal(next.child.exitCode, null, 'the new publisher is let in and goes on');
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live again', timeoutMs: 10_000 });
  const { rows } = await stack.db.query(`SELECT connection, ended_at FROM publish_sessions WHERE stream_id = $1`, [s.id]);
  t.same(rows.map((r) => [r.connection, r.ended_at]), [[2, null]], 'the same publish, continued by its second connection');
  t.match(JSON.stringify((await publishLog(s.id))[0]!.log), /took over its silent connection \(connection 2\)/);
  t.notMatch((await getText(playlistUrl)).text, /#EXT-X-ENDLIST/);
});

t.test('a publisher at another ingest takes over a silent connection at once too', async (t) => {
  const s = await stack.createStream('silent takeover across ingests');
  keys.push(s.streamKey);
  const old = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 500 });
  await stack.waitForMaster(s.playbackId);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live', timeoutMs: 10_000 });
  old.child.kill('SIGSTOP');
  t.teardown(() => void old.child.kill('SIGCONT'));
  await new Promise((r) => setTimeout(r, 4_000));
  const silentFor = 4_000;
  const next = publishTestPattern(t, { url: `rtmp://127.0.0.1:${rtmpPort2}/live/${s.streamKey}`, width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 500 });
  const startedAt = Date.now();
  const continued = await waitFor(async () => {
    const { rows } = await stack.db.query(`SELECT connection, ingest_id FROM publish_sessions WHERE stream_id = $1 AND ended_at IS NULL`, [s.id]);
    return rows[0]?.connection === 2 ? rows[0] : null;
  }, { what: 'the publish continued by the new connection', timeoutMs: 10_000, intervalMs: 100 });
  t.ok(silentFor + (Date.now() - startedAt) < 10_000, 'before the old ingest’s idle watchdog would have dropped the silent one');
  t.equal(continued.ingest_id, 'ingest-2', 'the second ingest holds it now');
  const playlistUrl = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  await waitFor(async () => afterDiscontinuity((await getText(playlistUrl)).text).length > 0, { what: 'segments pulled from the second ingest', timeoutMs: 25_000 });
  t.equal(next.child.exitCode, null, 'the new publisher goes on');
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live again', timeoutMs: 10_000 });
  const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM publish_sessions WHERE stream_id = $1`, [s.id]);
  t.equal(rows[0].n, 1, 'one publish');
});

t.test('a reconnect at another resolution: the ladder follows, and the master lists exactly what is written', async (t) => {
  const s = await stack.createStream('new resolution');
  keys.push(s.streamKey);
  const first = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 854, height: 480, fps: 10, seconds: 120, videoKbps: 700 });
  await stack.waitForMaster(s.playbackId);
  const masterUrl = `${stack.base}/hls/${s.playbackId}/master.m3u8`;
  t.match((await getText(masterUrl)).text, /480p\/index\.m3u8[\s\S]*360p\/index\.m3u8/, 'two rungs for a 480p source');
  await first.stop();
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'reconnecting', { what: 'reconnecting', timeoutMs: 5_000 });
  // OBS changed its output to 640x360 meanwhile
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 500 });
  const master = await waitFor(async () => {
    const text = (await getText(masterUrl)).text;
    return text.includes('480p') ? null : text;
  }, { what: 'the master playlist for the new ladder', timeoutMs: 30_000 });
  t.same(master.split('\n').filter((l) => l.endsWith('.m3u8')), ['360p/index.m3u8'], 'only the rung the new source has');
  t.match(master, /RESOLUTION=640x360/);
  t.equal((await getText(`${stack.base}/hls/${s.playbackId}/480p/index.m3u8`)).status, 404, 'the dropped rung’s playlist is gone (players switch away)');
  const pl = (await getText(`${stack.base}/hls/${s.playbackId}/360p/index.m3u8`)).text;
  t.ok(afterDiscontinuity(pl).length > 0, 'the kept rung continues after a discontinuity');
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live again', timeoutMs: 10_000 });
  const stream = await stack.api('GET', `/streams/${s.id}`, undefined, stack.token);
  t.same(stream.body.renditions.map((r: { name: string; width: number; height: number }) => [r.name, r.width, r.height]), [['360p', 640, 360]], 'the stream says the same');
});

t.test('a publish left reconnecting with no job to end it (its worker died as the grace ran out) is ended by the workers’ sweep', async (t) => {
  const s = await stack.createStream('overdue');
  const { rows } = await stack.db.query(
    `INSERT INTO publish_sessions (stream_id, ingest_id, live_at, reconnect_deadline) VALUES ($1, 'ingest-1', now() - interval '1 minute', now() - interval '10 seconds') RETURNING id`,
    [s.id],
  );
  await stack.db.query(`UPDATE streams SET status = 'reconnecting', current_publish_session_id = $2 WHERE id = $1`, [s.id, rows[0].id]);
  const playlist = path.join(stack.mediaDir, 'hls', s.playbackId, '360p', 'index.m3u8');
  mkdirSync(path.dirname(playlist), { recursive: true });
  writeFileSync(playlist, '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.000,\nseg-0.ts\n');
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'the overdue reconnect ended', timeoutMs: 20_000, intervalMs: 250 });
  t.equal((await publishLog(s.id))[0]!.endReason, 'reconnect_timeout');
  t.match(readFileSync(playlist, 'utf8'), /#EXT-X-ENDLIST\n$/, 'its playlist ended');
});

t.test('the stream keys appear in no log', async (t) => {
  const logs = stack.allLogs() + ingest2.output();
  for (const key of keys) t.notOk(logs.includes(key), 'key not logged');
});
