// Black-box: publish a test pattern over RTMP, play what a player would fetch through nginx.
// Real Postgres, Redis, nginx, ffmpeg; real api, ingest and two worker processes.
import t from 'tap';
import { getText, probeVideo, publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t, { workers: 2 });
const keys: string[] = [];

function variantUrls(base: string, master: string): string[] {
  return master.split('\n').filter((l) => l.endsWith('.m3u8')).map((l) => `${base}${l}`);
}

function segmentsOf(playlist: string): string[] {
  return playlist.split('\n').filter((l) => l.endsWith('.ts'));
}

t.test('a 1080p H.264 publish plays through nginx as four renditions, top one passed through', async (t) => {
  const s = await stack.createStream('ladder');
  keys.push(s.streamKey);
  t.match(s.playbackUrl, new RegExp(`/hls/${s.playbackId}/v/[^/]+/master.m3u8$`));
  t.notOk(s.playbackUrl.includes(s.streamKey), 'the playback URL never holds the key');
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 1920, height: 1080, fps: 10, seconds: 60, videoKbps: 3000 });

  const masterUrl = `${stack.base}/hls/${s.playbackId}/master.m3u8`;
  const master = await waitFor(async () => {
    const r = await getText(masterUrl);
    return r.status === 200 ? r : null;
  }, { what: 'the master playlist', timeoutMs: 30_000 });
  t.equal(master.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  t.equal(master.headers.get('cache-control'), 'no-cache');
  t.equal(master.headers.get('access-control-allow-origin'), '*');
  const expected = [
    ['1080p', 1920, 1080],
    ['720p', 1280, 720],
    ['480p', 854, 480],
    ['360p', 640, 360],
  ] as const;
  for (const [name, w, h] of expected) {
    t.match(master.text, new RegExp(`RESOLUTION=${w}x${h},CODECS="avc1\\.[0-9a-f]{6},mp4a\\.40\\.2",FRAME-RATE=10\\.000\\n${name}/index\\.m3u8`), `${name} listed`);
  }
  t.match(master.text, /BANDWIDTH=\d+/);

  const base = `${stack.base}/hls/${s.playbackId}/`;
  for (const [i, url] of variantUrls(base, master.text).entries()) {
    const pl = await getText(url);
    t.equal(pl.status, 200);
    const seg = segmentsOf(pl.text)[0];
    t.ok(seg, `${url} lists a segment`);
    const segUrl = url.replace(/index\.m3u8$/, seg!);
    const head = await fetch(segUrl);
    t.equal(head.headers.get('content-type'), 'video/mp2t');
    t.match(head.headers.get('cache-control') ?? '', /max-age=\d+/);
    await head.arrayBuffer();
    const v = await probeVideo(segUrl);
    t.same([v.codec, v.width, v.height, v.decodedOk], ['h264', expected[i]![1], expected[i]![2], true], `${expected[i]![0]} segment decodes at its stated resolution`);
  }

  const live = await stack.api('GET', `/streams/${s.id}`, undefined, stack.token);
  t.equal(live.body.status, 'live');
  t.equal(live.body.renditions.length, 4);
  t.equal(live.body.renditions[0].passthrough, true, 'the 1080p rung is passed through');
  t.notOk(JSON.stringify(live.body).includes(s.streamKey), 'GET never returns the key');
  await waitFor(async () => (await stack.api('GET', `/streams/${s.id}`, undefined, stack.token)).body.progress?.fps != null, { what: 'progress on the stream', timeoutMs: 10_000 });

  // publisher leaves → every variant playlist ends, stream offline within 5 s
  await pub.stop();
  const leftAt = Date.now();
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'offline', timeoutMs: 5_000 });
  await waitFor(async () => {
    for (const url of variantUrls(base, master.text)) if (!(await getText(url)).text.includes('#EXT-X-ENDLIST')) return false;
    return true;
  }, { what: 'EXT-X-ENDLIST in every variant', timeoutMs: 5_000 });
  t.ok(Date.now() - leftAt <= 5_500, 'ENDLIST and offline within 5 s');
  const sessions = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
  t.equal(sessions.body.items[0].endReason, 'publisher_left');
  t.equal(sessions.body.items[0].source.height, 1080);
});

t.test('a 720p source is never upscaled', async (t) => {
  const s = await stack.createStream('720p');
  keys.push(s.streamKey);
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 1280, height: 720, fps: 10, seconds: 40, videoKbps: 1500 });
  const master = await waitFor(async () => {
    const r = await getText(`${stack.base}/hls/${s.playbackId}/master.m3u8`);
    return r.status === 200 ? r.text : null;
  }, { what: 'the master playlist', timeoutMs: 30_000 });
  t.notMatch(master, /1080/, 'no 1080p rung for a 720p source');
  t.equal((master.match(/#EXT-X-STREAM-INF/g) ?? []).length, 3);
  t.match(master, /RESOLUTION=1280x720/);
});

t.test('a worker killed with SIGKILL: its ffmpeg dies, another worker resumes after a discontinuity', async (t) => {
  const s = await stack.createStream('takeover');
  keys.push(s.streamKey);
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 90, videoKbps: 800 });
  const playlistUrl = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  await stack.waitForMaster(s.playbackId);

  const victimName = await stack.currentWorker(s.id);
  const victim = stack.roles.find((r) => r.name === victimName)!;
  t.ok(victim, `the stream runs on ${victimName}`);
  const ffmpegPids = await childPids(victim.child.pid!);
  t.ok(ffmpegPids.length > 0, 'the worker has an ffmpeg child');
  victim.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor(async () => (await Promise.all(ffmpegPids.map(alive))).every((a) => !a), { what: 'the orphaned ffmpeg to die', timeoutMs: 3_000 });
  t.pass('ffmpeg died with its worker');

  // replace the dead worker so two stay available, as a supervisor would
  stack.addWorker(`${victimName}-restarted`);
  const resumed = await waitFor(async () => {
    const pl = (await getText(playlistUrl)).text;
    const i = pl.indexOf('#EXT-X-DISCONTINUITY');
    return i >= 0 && segmentsOf(pl.slice(i)).length > 0 ? pl : null;
  }, { what: 'segments after a discontinuity', timeoutMs: 20_000, intervalMs: 200 });
  t.ok(Date.now() - killedAt <= 15_000, `resumed within 15 s (${Date.now() - killedAt} ms)`);
  t.notOk(resumed.includes('#EXT-X-ENDLIST'), 'the playlist goes on');
  const after = await stack.db.query(`SELECT worker_id, transcode_starts FROM publish_sessions WHERE stream_id = $1 AND ended_at IS NULL`, [s.id]);
  t.not(after.rows[0].worker_id, victimName, 'another worker runs it now');
  t.ok(after.rows[0].transcode_starts >= 2);
  t.equal(await stack.streamStatus(s.id), 'live');
});

t.test('a worker stopped with SIGTERM hands its live stream to another worker', async (t) => {
  const s = await stack.createStream('handoff');
  keys.push(s.streamKey);
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 90, videoKbps: 800 });
  const playlistUrl = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  await stack.waitForMaster(s.playbackId);
  const workerName = await stack.currentWorker(s.id);
  const worker = stack.roles.find((r) => r.name === workerName)!;
  worker.kill('SIGTERM');
  t.equal(await worker.exited, 0, 'the worker stops cleanly');
  t.notMatch((await getText(playlistUrl)).text, /#EXT-X-ENDLIST/, 'players are never told the stream ended');
  stack.addWorker(`${worker.name}-after-sigterm`);
  await waitFor(async () => {
    const pl = (await getText(playlistUrl)).text;
    const i = pl.lastIndexOf('#EXT-X-DISCONTINUITY');
    return i >= 0 && !pl.includes('#EXT-X-ENDLIST') && segmentsOf(pl.slice(i)).length > 0;
  }, { what: 'the stream to continue on another worker', timeoutMs: 20_000, intervalMs: 200 });
  const after = await stack.db.query(`SELECT worker_id FROM publish_sessions WHERE stream_id = $1 AND ended_at IS NULL`, [s.id]);
  t.not(after.rows[0].worker_id, worker.name);
  t.equal(await stack.streamStatus(s.id), 'live');
});

t.test('the stream key appears in no log', async (t) => {
  const logs = stack.allLogs();
  t.ok(logs.length > 1000, 'there are logs to look at');
  for (const key of keys) t.notOk(logs.includes(key), 'key not logged');
});

async function childPids(pid: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function alive(pid: number): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \([^)]*\) Z/.test(stat); // a zombie is dead, just not reaped
  } catch {
    return false;
  }
}
