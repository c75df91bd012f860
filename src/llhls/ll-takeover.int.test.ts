// Low-latency mode survives a crashed worker: after SIGKILL another worker takes the publish over
// and the same playlists go on — the segments listed before stay listed, EXT-X-DISCONTINUITY and a
// new init section mark the seam, the media sequence continues, the target duration and part
// target never change, and the new worker's files have names of their own (nothing cached is
// ever replaced).
import { M3U8Parser } from 'hls.js';
import t from 'tap';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t, { workers: 2 });

const text = async (url: string) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  return { status: res.status, body: await res.text() };
};
const parse = (body: string, url: string) => M3U8Parser.parseLevelPlaylist(body, url, 0, 'main' as never, 0, null);

t.test('a worker killed with SIGKILL: another worker continues the low-latency playlists after a discontinuity', async (t) => {
  const s = (await stack.api('POST', '/streams', { title: 'll takeover', lowLatency: true }, stack.token)).body;
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 25, seconds: 120, videoKbps: 800, gopSeconds: 1 });
  await stack.waitForMaster(s.playbackId, 60_000);
  const url = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  // a few segments first, so that some are listed before the crash
  const before = await waitFor(async () => {
    const d = parse((await text(url)).body, url);
    return d.fragments.length >= 3 ? d : null;
  }, { what: 'three segments', timeoutMs: 30_000 });
  const victimName = await stack.currentWorker(s.id);
  const victim = stack.roles.find((r) => r.name === victimName)!;
  victim.kill('SIGKILL');
  await victim.exited;

  const after = await waitFor(async () => {
    const r = await text(url);
    if (r.status !== 200) return null;
    const d = parse(r.body, url);
    return d.fragments.some((f) => /t1-init\d+\.mp4$/.test(f.initSegment?.url ?? '')) && d.fragments.at(-1)!.sn > before.fragments.at(-1)!.sn + 1 ? d : null;
  }, { what: 'the other worker to continue the playlist', timeoutMs: 90_000 });
  t.not(await stack.currentWorker(s.id), victimName, 'another worker runs the stream');
  const seam = after.fragments.findIndex((f) => /t1-init\d+\.mp4$/.test(f.initSegment?.url ?? ''));
  t.ok(seam > 0, 'segments from before the crash are still listed');
  t.equal(after.fragments[seam]!.cc, after.fragments[seam - 1]!.cc + 1, 'EXT-X-DISCONTINUITY at the seam');
  t.equal(after.fragments[seam]!.sn, after.fragments[seam - 1]!.sn + 1, 'the media sequence goes on');
  const listedBefore = before.fragments.map((f) => [f.sn, f.url]);
  const stillListed = after.fragments.filter((f) => f.sn <= before.fragments.at(-1)!.sn).map((f) => [f.sn, f.url]);
  t.same(stillListed, listedBefore.slice(listedBefore.length - stillListed.length), 'the same segments under the same names');
  t.equal(after.targetduration, before.targetduration, 'TARGETDURATION unchanged');
  t.equal(after.partTarget, before.partTarget, 'PART-TARGET unchanged');
  t.equal(after.partHoldBack, before.partHoldBack, 'PART-HOLD-BACK unchanged');
  t.ok(after.fragments.slice(seam).every((f) => /\/[a-z0-9]+t1-seg\d+\.m4s$/.test(f.url)), 'the new worker’s files have names of their own');
  t.equal((await text(`${stack.base}/hls/${s.playbackId}/360p/index.m3u8?_HLS_msn=${after.endSN + 1}`)).status, 200, 'and blocking reloads are answered again');
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live again', timeoutMs: 30_000 });
});
