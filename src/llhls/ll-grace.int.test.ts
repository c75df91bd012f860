// Low-latency mode with the reconnect grace and a relay: a publisher that drops and comes back
// within the grace continues the same LL playlists (EXT-X-DISCONTINUITY, a new init section, the
// media sequence going on, no ENDLIST in between), and the stream's relay destination goes live
// from the same publish (the relay copies the source, whatever the HLS mode).
import { M3U8Parser } from 'hls.js';
import t from 'tap';
import { listDestinations } from '../testing/relay-checks.js';
import { publishTestPattern, randomId, waitFor } from '../testing/harness.js';
import { startRtmpDestination } from '../testing/rtmp-destination.js';
import { startStack } from '../testing/stack.js';

const GRACE = 15;
const stack = await startStack(t, { workers: 1, extraEnv: { RELAY_ALLOW_PRIVATE: 'true', RECONNECT_GRACE_SECONDS: String(GRACE) } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const parse = (body: string, url: string) => M3U8Parser.parseLevelPlaylist(body, url, 0, 'main' as never, 0, null);
const playlist = async (url: string) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  return res.status === 200 ? parse(await res.text(), url) : null;
};

t.test('a low-latency publisher back within the grace continues the same playlists; its relay destination is live', async (t) => {
  const s = (await stack.api('POST', '/streams', { title: 'll grace', lowLatency: true }, stack.token)).body;
  const dest = await startRtmpDestination(t, { recordEvents: true });
  const made = await stack.api('POST', `/streams/${s.id}/destinations`, { name: 'Platform', url: `rtmp://127.0.0.1:${dest.port}/live`, streamKey: `ll-${randomId(8)}`, enabled: true }, stack.token);
  t.equal(made.status, 201);
  const publish = () => publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 25, seconds: 120, videoKbps: 800, gopSeconds: 1 });
  const first = publish();
  await stack.waitForMaster(s.playbackId, 60_000);
  const destination = async () => (await listDestinations((p) => stack.api('GET', p, undefined, stack.token), s.id)).get(made.body.id)!;
  await waitFor(async () => (await destination()).status === 'live', { what: 'the relay destination to be live', timeoutMs: 30_000 });
  t.pass('the relay destination is live from a low-latency publish');

  const url = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  const before = await waitFor(async () => {
    const d = await playlist(url);
    return d && d.fragments.length >= 2 ? d : null;
  }, { what: 'two segments', timeoutMs: 30_000 });
  await first.stop();
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'reconnecting', { what: 'reconnecting', timeoutMs: 15_000 });
  const away = await playlist(url);
  t.ok(away?.live, 'no ENDLIST while the publisher may come back');
  await sleep(3_000);
  publish();
  const after = await waitFor(async () => {
    const d = await playlist(url);
    return d && d.fragments.some((f) => /-init2\.mp4$/.test(f.initSegment?.url ?? '')) ? d : null;
  }, { what: 'the playlist to continue', timeoutMs: 60_000 });
  const seam = after.fragments.findIndex((f) => /-init2\.mp4$/.test(f.initSegment?.url ?? ''));
  t.ok(seam > 0, 'the segments from before the drop are still listed');
  t.equal(after.fragments[seam]!.cc, after.fragments[seam - 1]!.cc + 1, 'EXT-X-DISCONTINUITY at the seam');
  t.equal(after.fragments[seam]!.sn, after.fragments[seam - 1]!.sn + 1, 'the media sequence goes on');
  t.ok(after.fragments[0]!.sn <= before.fragments.at(-1)!.sn, 'the same playlists, not new ones');
  t.equal(after.partTarget, before.partTarget, 'PART-TARGET unchanged');
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live again', timeoutMs: 30_000 });
  await waitFor(async () => (await destination()).status === 'live', { what: 'the destination live again', timeoutMs: 30_000 });
  t.pass('live again, and so is the destination');
});
