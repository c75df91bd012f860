// Low-latency mode end to end, on a live run: a real publish to a stream with lowLatency on, the
// whole ladder packaged into LL-HLS parts by the worker, playlists from the origin with blocking
// reload through nginx, media from disk, the viewer's token URL alike. The playlists are read
// with hls.js's own parser (what the web player does) and checked against the RFC's rules; the
// parts and segments against the bytes nginx serves.
import { execFileSync } from 'node:child_process';
import { M3U8Parser } from 'hls.js';
import t from 'tap';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { describeFragment } from './fragment.js';
import { BoxSplitter } from './mp4-boxes.js';
import { readMoov } from './moov.js';

const stack = await startStack(t, { workers: 1 });

const get = async (url: string) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
};
type Details = ReturnType<typeof M3U8Parser.parseLevelPlaylist>;
const parse = (text: string, url: string): Details => M3U8Parser.parseLevelPlaylist(text, url, 0, 'main' as never, 0, null);

/** The first video sample of a part (moof+mdat) is a sync sample. */
function startsIndependent(part: Buffer, init: Buffer): boolean {
  const boxes = new BoxSplitter().push(part);
  const moov = new BoxSplitter().push(init).find((b) => b.type === 'moov')!;
  const moof = boxes.find((b) => b.type === 'moof')!;
  return describeFragment(moof.bytes.subarray(moof.headerSize), readMoov(moov.bytes.subarray(moov.headerSize))).independent;
}

t.test('a low-latency publish: the ladder as LL-HLS, conformant, blocking reloads answered as parts land, an ffmpeg restart continues after a discontinuity, ENDLIST at the end', async (t) => {
  const s = (await stack.api('POST', '/streams', { title: 'll live', lowLatency: true, record: true }, stack.token)).body;
  const { session } = await stack.liveSessionOn(s.id, 'LL day'); // one session for the whole publish (and its recording)
  const started = Date.now();
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 1280, height: 720, fps: 25, seconds: 120, videoKbps: 1500, gopSeconds: 1 });
  await stack.waitForMaster(s.playbackId, 60_000);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live', timeoutMs: 10_000 });
  const base = `${stack.base}/hls/${s.playbackId}`;
  const master = (await get(`${base}/master.m3u8`)).bytes.toString();
  const rungs = [...master.matchAll(/^([a-z0-9]+)\/index\.m3u8$/gm)].map((m) => m[1]!);
  t.same([...rungs].sort(), ['360p', '480p', '720p'], 'every rung (720p passed through)');
  t.match(master, /AVERAGE-BANDWIDTH=\d+/);
  t.match(master, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);

  // hls.js-style reloads of two rungs (the copy and the smallest) for a while: each asks for the next part
  const seen = new Map<string, Details[]>();
  for (const rung of ['720p', '360p']) {
    const url = `${base}/${rung}/index.m3u8`;
    let d = parse((await get(url)).bytes.toString(), url);
    const list = [d];
    let hintChecked = false;
    while (list.length < 30) {
      const last = d.partList!.at(-1)!;
      const next = `${url}?_HLS_msn=${last.fragment.sn}&_HLS_part=${last.index + 1}`;
      const hint = d.preloadHint?.URI;
      // the hinted part, asked for before it exists (as Safari does): held by the origin, then served by nginx from disk
      const hinted = !hintChecked && hint ? get(`${base}/${rung}/${hint}`) : null;
      const r = await get(next);
      t.equal(r.status, 200, `${rung}: the blocking reload is answered`);
      d = parse(r.bytes.toString(), url);
      list.push(d);
      if (hinted) {
        const h = await hinted;
        t.equal(h.status, 200, `${rung}: the hinted part, asked before it was written, arrives`);
        t.same(h.bytes, (await get(`${base}/${rung}/${hint}`)).bytes, 'and it is the part as written');
        hintChecked = true;
      }
    }
    seen.set(rung, list);
  }
  for (const [rung, list] of seen) {
    const first = list[0]!;
    t.ok(list.every((d) => d.targetduration === 1 && d.partTarget === first.partTarget && d.partHoldBack === first.partHoldBack), `${rung}: TARGETDURATION (1 s for a 1 s GOP), PART-TARGET and PART-HOLD-BACK never change`);
    t.ok(first.partHoldBack >= 3 * first.partTarget - 1e-9, `${rung}: PART-HOLD-BACK ≥ 3 × PART-TARGET`);
    t.ok(list.every((d) => d.canBlockReload), `${rung}: CAN-BLOCK-RELOAD`);
    t.ok(list.every((d, i) => i === 0 || (d.endSN >= list[i - 1]!.endSN && d.startSN >= list[i - 1]!.startSN)), `${rung}: media sequence numbers only move forward`);
    t.ok(list.every((d, i) => i === 0 || d.partList!.at(-1)!.fragment.sn * 1000 + d.partList!.at(-1)!.index > list[i - 1]!.partList!.at(-1)!.fragment.sn * 1000 + list[i - 1]!.partList!.at(-1)!.index), `${rung}: each answer holds a newer part than the request's`);
    t.ok(list.every((d) => d.fragments.every((f) => typeof f.programDateTime === 'number')), `${rung}: PROGRAM-DATE-TIME on every segment`);
    t.ok(list.every((d) => d.preloadHint?.TYPE === 'PART'), `${rung}: a preload hint in every live playlist`);
    t.ok(list.every((d) => d.renditionReports?.length === rungs.length - 1), `${rung}: a rendition report for every other rung`);
    t.ok(list.every((d) => d.startSN >= 1), `${rung}: MSN starts at 1 or later`);
  }

  // parts and segments as nginx serves them: sizes, INDEPENDENT, segments = their parts
  for (const rung of ['720p', '360p']) {
    // a fresh playlist: parts leave the disk a few target durations after they leave the playlist
    const url = `${base}/${rung}/index.m3u8`;
    const d = parse((await get(url)).bytes.toString(), url);
    const init = (await get(d.fragments.at(-1)!.initSegment!.url)).bytes;
    const target = d.partTarget;
    let checkedSegments = 0;
    for (const frag of d.fragments) {
      const parts = d.partList!.filter((p) => p.fragment.sn === frag.sn);
      if (parts.length === 0) continue; // older than the parts window
      const bytes = await Promise.all(parts.map(async (p) => (await get(p.url)).bytes));
      t.same(Buffer.concat(bytes), (await get(frag.url)).bytes, `${rung} ${frag.sn}: the segment is its parts, concatenated`);
      t.ok(parts[0]!.independent && startsIndependent(bytes[0]!, init), `${rung} ${frag.sn}: starts with an IDR`);
      parts.forEach((p, i) => {
        t.equal(p.independent, startsIndependent(bytes[i]!, init), `${rung} ${frag.sn}.${i}: INDEPENDENT exactly when it starts with a sync sample`);
        t.ok(p.duration <= target + 1e-6, `${rung} ${frag.sn}.${i}: ≤ PART-TARGET (${p.duration} ≤ ${target})`);
        const exempt = i === parts.length - 1 || p.independent;
        if (!exempt) t.ok(p.duration >= 0.85 * target - 1e-6, `${rung} ${frag.sn}.${i}: ≥ 85 % of PART-TARGET (${p.duration})`);
      });
      checkedSegments += 1;
    }
    t.ok(checkedSegments >= 2, `${rung}: ${checkedSegments} segments checked part by part`);
  }

  // a request too far ahead, and a future part nobody hinted
  const last360 = seen.get('360p')!.at(-1)!;
  t.equal((await get(`${base}/360p/index.m3u8?_HLS_msn=${last360.endSN + 10}`)).status, 400, 'a reload far ahead: 400');
  t.equal((await get(`${base}/360p/${last360.preloadHint!.URI.replace(/\d+\.m4s$/, (n: string) => `${Number(n.slice(0, -4)) + 5}.m4s`)}`)).status, 404, 'a future part that is not the hinted one: 404');

  // the viewer's personal URL plays the same playlists (the origin, after nginx's token and gate checks)
  const view = (await stack.api('GET', `/sessions/${session.id}`, undefined, stack.token)).body;
  const personal = new URL(view.playbackUrl, stack.base).pathname.replace(/master\.m3u8$/, '360p/index.m3u8');
  const viewer = await get(`${stack.base}${personal}`);
  t.equal(viewer.status, 200, 'the personal URL reaches the origin');
  t.match(viewer.bytes.toString(), /#EXT-X-PART-INF/);

  // ffmpeg killed: the job restarts it; the playlists continue after a discontinuity with a new init section
  const publishId = (await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token)).body.items[0].id;
  execFileSync('pkill', ['-KILL', '-f', `internal/${publishId}`]);
  const url360 = `${base}/360p/index.m3u8`;
  const resumed = await waitFor(async () => {
    const d = parse((await get(url360)).bytes.toString(), url360);
    return d.fragments.some((f) => f.initSegment?.url.endsWith('-init2.mp4')) ? d : null;
  }, { what: 'the playlist to continue after the restart', timeoutMs: 60_000 });
  const at = resumed.fragments.findIndex((f) => f.initSegment?.url.endsWith('-init2.mp4'));
  t.ok(at > 0, 'the run before the restart is still listed');
  t.equal(resumed.fragments[at]!.cc, resumed.fragments[at - 1]!.cc + 1, 'EXT-X-DISCONTINUITY at the restart');
  t.equal(resumed.fragments[at]!.sn, resumed.fragments[at - 1]!.sn + 1, 'the media sequence goes on');
  t.equal(resumed.targetduration, 1, 'the same target duration');

  // the end: EXT-X-ENDLIST, no hint, no blocking; the recording is made from the same ladder
  await pub.stop();
  const ended = await waitFor(async () => {
    const d = parse((await get(url360)).bytes.toString(), url360);
    return d.live ? null : d;
  }, { what: 'ENDLIST', timeoutMs: 60_000 });
  t.equal(ended.preloadHint, undefined, 'no preload hint once ended');
  t.notOk(ended.canBlockReload, 'nor blocking');
  const recording = await waitFor(async () => {
    const r = (await stack.api('GET', `/streams/${s.id}/recordings`, undefined, stack.token)).body.items[0];
    return r?.status === 'ready' ? r : null;
  }, { what: 'the recording to be ready', timeoutMs: 120_000 });
  const published = (Date.now() - started) / 1000;
  const all = (await stack.api('GET', `/streams/${s.id}/recordings`, undefined, stack.token)).body.items;
  t.equal(all.length, 1, 'one recording, across the restart');
  t.ok(recording.durationSeconds > published - 25, `a recording of ${recording.durationSeconds} s of a publish of ~${Math.round(published)} s (less the start and the restart's gap)`);
  t.same(recording.renditions.map((r: { name: string }) => r.name).sort(), ['360p', '480p', '720p'], 'every rung recorded');
});
