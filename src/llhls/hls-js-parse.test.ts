// The playlists as hls.js (the web player, npm hls.js) reads them, with its own parser: every tag
// the packager writes must arrive in hls.js's LevelDetails with the meaning intended.
import t from 'tap';
import { M3U8Parser } from 'hls.js';
import { LlSession } from './session.js';
import { renderMediaPlaylist } from './media-playlist.js';
import { renderMasterPlaylist } from './master-playlist.js';
import { FIXTURES, feedLadder, readFixture } from '../testing/llhls-fixtures.js';

const START = Date.UTC(2026, 11, 7, 20, 0, 0);
const BASE = 'https://onair.example/hls/s1/';

t.test('hls.js parses a live LL playlist across a restart, then the ended one, and the master', async (t) => {
  const session = new LlSession({ prefix: 'hj', targetDuration: 2 });
  const [a, b] = [session.rendition('copy'), session.rendition('x264')];
  const [copy, x264] = [readFixture(FIXTURES.gop2bfCopy), readFixture(FIXTURES.gop2bfX264)];
  const run1 = feedLadder({ packagers: [a, b], inputs: [copy, x264], seed: 1, nowMs: START, msPerChunk: 200 });
  // the second run stops before its end: the playlist is live, with an open segment
  for (const [p, bytes] of [[a, copy], [b, x264]] as const) {
    const r = p.push(bytes.subarray(0, Math.floor(bytes.length * 0.8)), run1.nowMs + 2000);
    t.equal(r.error, undefined);
  }
  const text = renderMediaPlaylist({ state: a.state(), others: [{ uri: '../x264/index.m3u8', ...b.report()! }] });
  const d = M3U8Parser.parseLevelPlaylist(text, `${BASE}copy/index.m3u8`, 0, 'main' as never, 0, null);
  const c = session.constants;
  t.equal(d.live, true);
  t.equal(d.canBlockReload, true, 'CAN-BLOCK-RELOAD: hls.js will use blocking reload');
  t.equal(d.partTarget, c.partTarget);
  t.equal(d.partHoldBack, c.partHoldBack);
  t.equal(d.targetduration, 2);
  const state = a.state();
  const complete = state.segments.filter((s) => s.complete);
  t.same(d.fragments.map((f) => f.sn), complete.map((s) => s.msn), 'segments: the same MSNs');
  t.equal(d.startSN, complete[0]!.msn);
  t.same(d.fragments.map((f) => f.programDateTime), complete.map((s) => s.wallClockMs), 'PROGRAM-DATE-TIME of each');
  t.same(d.fragments.map((f) => f.initSegment?.url), complete.map((s) => `${BASE}copy/${s.init}`), 'EXT-X-MAP of each');
  const restart = complete.findIndex((s) => s.discontinuity);
  t.ok(restart > 0, 'the restart is in the window');
  t.same(d.fragments.map((f) => f.cc), complete.map((_, i) => (i < restart ? 0 : 1)), 'the discontinuity counter steps at the restart');
  const open = state.segments.at(-1)!;
  t.equal(d.fragmentHint?.sn, open.msn, 'the open segment is hls.js\'s fragment hint');
  const listed = state.segments.filter((s) => s.msn >= state.partsFromMsn).flatMap((s) => s.parts.map((p) => ({ s, p })));
  t.same(
    d.partList!.map((p) => [p.fragment.sn, p.index, p.independent, p.url, p.duration]),
    listed.map(({ s, p }) => [s.msn, p.index, p.independent, `${BASE}copy/${p.name}`, Number(p.duration.toFixed(5))]),
    'parts: segment, index, INDEPENDENT, URI and duration as the packager has them',
  );
  t.same(d.preloadHint, { TYPE: 'PART', URI: state.nextPartName });
  const report = d.renditionReports![0]!;
  t.same([report.URI, Number(report['LAST-MSN']), Number(report['LAST-PART'])], ['../x264/index.m3u8', b.report()!.lastMsn, b.report()!.lastPart]);

  a.end(run1.nowMs + 9000);
  const ended = M3U8Parser.parseLevelPlaylist(renderMediaPlaylist({ state: a.state(), others: [] }), `${BASE}copy/index.m3u8`, 0, 'main' as never, 0, null);
  t.equal(ended.live, false, 'ENDLIST: no longer live');
  t.equal(ended.canBlockReload, false);
  t.equal(ended.preloadHint, undefined);
  t.equal(ended.fragments.at(-1)!.sn, a.state().segments.at(-1)!.msn, 'the open segment was completed and listed');

  const master = renderMasterPlaylist([
    { uri: 'copy/index.m3u8', stats: a.measured() },
    { uri: 'x264/index.m3u8', stats: b.measured() },
  ])!;
  const parsed = M3U8Parser.parseMasterPlaylist(master, `${BASE}index.m3u8`);
  t.same(
    parsed.levels.map((l) => [l.url, l.width, l.height, l.videoCodec, l.audioCodec, l.bitrate, l.attrs['FRAME-RATE']]),
    [
      [`${BASE}copy/index.m3u8`, 320, 180, a.measured().codecs[0], 'mp4a.40.2', a.measured().peakBitsPerSecond, '30.000'],
      [`${BASE}x264/index.m3u8`, 192, 108, b.measured().codecs[0], 'mp4a.40.2', b.measured().peakBitsPerSecond, '30.000'],
    ],
    'levels with their codecs, sizes, peak bandwidth and frame rate',
  );
  t.equal(parsed.levels[0]!.attrs['AVERAGE-BANDWIDTH'], String(a.measured().averageBitsPerSecond));
});
