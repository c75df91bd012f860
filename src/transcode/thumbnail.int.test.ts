// Black-box: a live stream's thumbnail, made by the worker's ffmpeg from the ladder's own decoded
// picture, reaches people through nginx with their own token and follows the broadcast: it
// appears once live, refreshes every few seconds, is refused without a valid token, and is gone
// when the publisher leaves. Real Postgres, Redis, nginx, ffmpeg; real api, ingest and worker.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { getText, probeVideo, publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t, { workers: 1 });

const picture = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type'), cache: r.headers.get('cache-control'), body: Buffer.from(await r.arrayBuffer()) };
};

t.test('a live stream’s thumbnailUrl serves a fresh JPEG of the smallest rung, personal to the caller, gone at the end', async (t) => {
  const s = await stack.createStream('thumbnails');
  const { event, session } = await stack.liveSessionOn(s.id, 'Thumbnail day');
  const ann = await stack.user('Ann');
  t.equal((await stack.api('POST', `/events/${event.id}/join`, undefined, ann.token)).status, 201);
  const streamAnswer = async () => (await stack.api('GET', `/streams/${s.id}`, undefined, stack.token)).body;
  t.equal((await streamAnswer()).thumbnailUrl, null, 'not live: no thumbnail');

  // a 720p source: the ladder is 720p (passed through), 480p and 360p; the thumbnail is the 360p picture
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 1280, height: 720, fps: 10, seconds: 120, videoKbps: 1500 });
  const url = await waitFor(async () => (await streamAnswer()).thumbnailUrl as string | null, { what: 'a thumbnailUrl in the stream answer', timeoutMs: 40_000, intervalMs: 500 });
  const live = await streamAnswer();
  t.equal(live.status, 'live');
  t.equal(live.renditions.length, 3, 'the ladder is whole beside its thumbnail');
  t.equal(url, live.playbackUrl.replace(/master\.m3u8$/, 'thumb.jpg'), "the admin's preview token");

  const first = await picture(url);
  t.equal(first.status, 200);
  t.equal(first.type, 'image/jpeg');
  t.equal(first.cache, 'no-cache', 'renewed in place: never cached');
  t.same([...first.body.subarray(0, 3)], [0xff, 0xd8, 0xff], 'JPEG magic');
  t.same([...first.body.subarray(-2)], [0xff, 0xd9], 'a whole picture, up to its end marker');
  const probe = await probeVideo(url);
  t.same([probe.codec, probe.width, probe.height, probe.decodedOk], ['mjpeg', 640, 360, true], 'ffprobe: a 640×360 JPEG that decodes');

  // refreshes: a new picture (the test pattern moves) within a few periods
  const file = path.join(stack.mediaDir, 'hls', s.playbackId, 'thumb.jpg');
  const mtime = statSync(file).mtimeMs;
  const next = await waitFor(async () => {
    const p = await picture(url);
    return p.status === 200 && !p.body.equals(first.body) ? p : null;
  }, { what: 'a new picture', timeoutMs: 15_000, intervalMs: 500 });
  t.equal(next.type, 'image/jpeg');
  t.ok(statSync(file).mtimeMs > mtime, 'the file was renewed');

  // an attendee gets their own URL (their playback token) in the session answer
  const mine = (await stack.api('GET', `/sessions/${session.id}`, undefined, ann.token)).body;
  t.equal(mine.thumbnailUrl, mine.playbackUrl.replace(/master\.m3u8$/, 'thumb.jpg'));
  t.not(mine.thumbnailUrl, url, 'personal: not the admin’s');
  t.equal((await picture(mine.thumbnailUrl)).status, 200);

  // the console of the people who make the session (here an organiser) has it too
  const console_ = (await stack.api('GET', `/sessions/${session.id}/stream`, undefined, stack.token)).body;
  t.match(console_.thumbnailUrl, new RegExp(`/hls/${s.playbackId}/v/[^/]+/thumb\\.jpg$`));
  t.equal((await picture(console_.thumbnailUrl)).status, 200, 'served');

  // refused without a valid token
  t.equal((await picture(url.replace(/\/v\/[A-Za-z0-9_-]{4}/, '/v/BBBB'))).status, 403, 'a forged token');
  const other = await stack.createStream('another stream');
  t.equal((await picture(url.replace(`/hls/${s.playbackId}/`, `/hls/${other.playbackId}/`))).status, 403, 'a token of one stream opens no other');
  const outsider = await stack.user('Outsider');
  t.match((await stack.api('GET', `/sessions/${session.id}`, undefined, outsider.token)).body, { playbackUrl: null, thumbnailUrl: null }, 'someone who did not join gets none');

  // the publisher leaves: no URL, no picture
  await pub.stop();
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'offline', timeoutMs: 10_000 });
  t.equal((await streamAnswer()).thumbnailUrl, null, 'offline: no thumbnail');
  t.equal((await stack.api('GET', `/sessions/${session.id}`, undefined, ann.token)).body.thumbnailUrl, null);
  t.equal((await stack.api('GET', `/sessions/${session.id}/stream`, undefined, stack.token)).body.thumbnailUrl, null);
  await waitFor(async () => (await picture(url)).status === 404, { what: 'the picture to be removed', timeoutMs: 10_000 });
  t.pass('the picture is gone');
});

t.test('a thumbnail that cannot be written fails alone: the ladder goes on, the picture comes back when the disk does', async (t) => {
  const s = await stack.createStream('thumbnail disk trouble');
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 600 });
  const streamAnswer = async () => (await stack.api('GET', `/streams/${s.id}`, undefined, stack.token)).body;
  await waitFor(async () => (await streamAnswer()).thumbnailUrl, { what: 'a thumbnail', timeoutMs: 40_000, intervalMs: 500 });
  // the picture's place taken by a directory: every rename onto it fails (EISDIR)
  const file = path.join(stack.mediaDir, 'hls', s.playbackId, 'thumb.jpg');
  rmSync(file, { force: true });
  mkdirSync(file);
  t.equal((await streamAnswer()).thumbnailUrl, null, 'no picture: no URL');
  const listed = async () => {
    const text = (await getText(`${stack.base}/hls/${s.playbackId}/360p/index.m3u8`)).text;
    return Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? 0) + (text.match(/#EXTINF/g) ?? []).length;
  };
  const before = await listed();
  await new Promise((r) => setTimeout(r, 9_000)); // two failed pictures at least, four segments
  t.ok((await listed()) >= before + 3, 'segments keep coming');
  t.equal(await stack.streamStatus(s.id), 'live', 'the stream stays live');
  const publishes = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
  t.equal(publishes.body.items[0].transcodeStarts, 1, 'ffmpeg was never restarted');
  t.match(stack.allLogs(), /Could not write the stream’s thumbnail; the stream goes on without it/, 'the worker says why');
  rmSync(file, { recursive: true });
  await waitFor(async () => (await streamAnswer()).thumbnailUrl, { what: 'the thumbnail to come back', timeoutMs: 15_000, intervalMs: 500 });
  t.pass('the picture is back');
});
