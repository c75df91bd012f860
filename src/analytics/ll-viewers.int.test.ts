// Viewer analytics of a low-latency stream end to end: a real LL publish, a viewer's player on
// their personal URL fetching the init section and every part as the playlist lists them (as
// hls.js in low-latency mode does); the API then reports one segment per segment the viewer
// fetched parts of (not one per part), the bytes of every file, and the watch time of the requests.
import { M3U8Parser } from 'hls.js';
import t from 'tap';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t, { workers: 1, extraEnv: { ANALYTICS_ROLLUP_EVERY: '2s' } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Details = ReturnType<typeof M3U8Parser.parseLevelPlaylist>;
const parse = (text: string, url: string): Details => M3U8Parser.parseLevelPlaylist(text, url, 0, 'main' as never, 0, null);

t.test('a low-latency viewer’s parts count toward their segments', async (t) => {
  const s = (await stack.api('POST', '/streams', { title: 'll views', lowLatency: true }, stack.token)).body;
  const { event, session } = await stack.liveSessionOn(s.id, 'LL views day');
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 15, seconds: 120, videoKbps: 400, gopSeconds: 1 });
  await stack.waitForMaster(s.playbackId, 60_000);
  const { token } = await stack.user('Lola');
  t.equal((await stack.api('POST', `/events/${event.id}/join`, undefined, token)).status, 201);
  const masterUrl = new URL((await stack.api('GET', `/sessions/${session.id}`, undefined, token)).body.playbackUrl, stack.base).toString();

  const times: number[] = [];
  let bytes = 0; // of the rendition's files (the master counts under its own name)
  const get = async (u: string) => {
    const r = await fetch(u, { signal: AbortSignal.timeout(15_000), headers: { 'accept-encoding': 'identity' } });
    const body = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200) throw new Error(`${r.status} for a player request`);
    times.push(Date.now());
    if (u !== masterUrl) bytes += body.length;
    return body.toString('latin1');
  };
  const master = await get(masterUrl);
  const rendition = [...master.matchAll(/^([a-z0-9]+)\/index\.m3u8$/gm)].map((m) => m[1]!).at(-1)!;
  const playlistUrl = new URL(`${rendition}/index.m3u8`, masterUrl).toString();
  const fetched = new Set<string>();
  const msns = new Set<number>();
  let parts = 0;
  let targetDuration = 0;
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    const d = parse(await get(playlistUrl), playlistUrl);
    // like hls.js, start at the live edge: the open segment's parts, not the ~3 s of parts before it
    if (fetched.size === 0) for (const p of d.partList ?? []) if (p.fragment.sn !== d.partList!.at(-1)!.fragment.sn) fetched.add(p.url);
    targetDuration = d.targetduration;
    const init = d.fragments.at(-1)?.initSegment?.url;
    if (init && !fetched.has(init)) (fetched.add(init), await get(init));
    for (const p of d.partList ?? []) {
      if (fetched.has(p.url)) continue;
      fetched.add(p.url);
      await get(p.url);
      parts++;
      msns.add(p.fragment.sn as number);
    }
    await sleep(300);
  }
  const watched = (times.at(-1)! - times[0]!) / 1000;
  t.ok(parts >= 3 * msns.size, `${parts} parts of ${msns.size} segments fetched in ${watched.toFixed(1)} s`);

  const figures = async () => (await stack.api('GET', `/analytics/sessions/${session.id}`, undefined, stack.token)).body;
  const served = (f: any) => f.streamSessions?.[0]?.renditionsServed?.find((r: { rendition: string }) => r.rendition === rendition); // eslint-disable-line @typescript-eslint/no-explicit-any
  let f = await figures();
  await waitFor(async () => served((f = await figures()))?.segments === msns.size && served(f)?.bytes === bytes, { what: 'the roll-up', timeoutMs: 30_000, intervalMs: 1000 }).catch(() => undefined);
  t.equal(served(f)?.segments, msns.size, `${rendition}: one segment per segment the viewer fetched parts of`);
  t.equal(served(f)?.bytes, bytes, `every byte served (playlists, init section, parts): ${served(f)?.bytes} vs ${bytes}`);
  const expected = watched / targetDuration + 1; // the segment open when they joined, then one per target duration
  t.ok(Math.abs(served(f).segments - expected) <= 1.5, `segments ${served(f).segments} ≈ ${expected.toFixed(1)} (seconds watched / target duration)`);
  t.ok(Math.abs(f.watchTimeSeconds - watched) <= 2, `watch time ${f.watchTimeSeconds} s ≈ ${watched.toFixed(1)} s`);
});
