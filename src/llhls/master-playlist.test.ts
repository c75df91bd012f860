import t from 'tap';
import { LlSession } from './session.js';
import { frameRate, renderMasterPlaylist } from './master-playlist.js';
import { FIXTURES, attr, feedLadder, readFixture } from '../testing/llhls-fixtures.js';

t.test('the master playlist from what the packagers measured', async (t) => {
  const session = new LlSession({ prefix: 'm', targetDuration: 1 });
  const copy = session.rendition('copy');
  const x264 = session.rendition('x264');
  t.equal(renderMasterPlaylist([{ uri: 'copy/index.m3u8', stats: copy.measured() }]), null, 'nothing before a complete segment');
  const fed = feedLadder({ packagers: [copy, x264], inputs: [readFixture(FIXTURES.gop1Copy), readFixture(FIXTURES.gop1X264)], seed: 3, nowMs: 0 });
  const text = renderMasterPlaylist([
    { uri: 'x264/index.m3u8', stats: x264.measured() },
    { uri: 'copy/index.m3u8', stats: copy.measured() },
  ])!;
  const lines = text.trimEnd().split('\n');
  t.same(lines.slice(0, 3), ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS']);
  t.equal(lines[4], 'copy/index.m3u8', 'highest bandwidth first');
  t.equal(lines[6], 'x264/index.m3u8');
  const inf = (i: number) => lines[i]!.replace('#EXT-X-STREAM-INF:', '');
  t.equal(attr(inf(3), 'CODECS'), 'avc1.42c00d,mp4a.40.2', 'copy rung: x264 ultrafast = Constrained Baseline level 1.3');
  t.equal(attr(inf(5), 'CODECS'), 'avc1.64000b,mp4a.40.2', 'transcoded rung: High level 1.1');
  t.equal(attr(inf(3), 'RESOLUTION'), '320x180');
  t.equal(attr(inf(5), 'RESOLUTION'), '192x108');
  t.equal(attr(inf(3), 'FRAME-RATE'), '30.000', 'the stretched first frame and FLV jitter do not show');
  // BANDWIDTH: the peak of bytes × 8 / EXTINF over the segments, checked against the segment files
  const segs = fed.files[0]!.filter((f) => f.kind === 'segment');
  const states = copy.state().segments;
  const rates = states.map((s) => (segs.find((f) => f.name === s.name)!.bytes.length * 8) / s.duration);
  t.equal(Number(attr(inf(3), 'BANDWIDTH')), Math.round(Math.max(...rates)));
  const total = states.reduce((a, s) => a + s.size, 0);
  const seconds = states.reduce((a, s) => a + s.duration, 0);
  t.equal(Number(attr(inf(3), 'AVERAGE-BANDWIDTH')), Math.round((total * 8) / seconds));
  t.ok(Number(attr(inf(3), 'BANDWIDTH')) >= Number(attr(inf(3), 'AVERAGE-BANDWIDTH')));
});

t.test('frame rates snap to the nearest common rate within 0.2 %', async (t) => {
  t.equal(frameRate(29.9999), 30);
  t.equal(frameRate(29.971), 29.97);
  t.equal(frameRate(59.95), 59.94);
  t.equal(frameRate(25.001), 25);
  t.equal(frameRate(27.5), 27.5, 'an odd rate as measured');
});

t.test('a track whose codec string is unknown: CODECS left out rather than naming only the audio', async (t) => {
  const bytes = Buffer.from(readFixture(FIXTURES.gop1Copy));
  const entry = bytes.indexOf('avc1', 0, 'latin1');
  t.ok(entry > 0 && entry < bytes.indexOf('moof', 0, 'latin1'), 'the sample entry in the moov');
  bytes.write('hvc1', entry, 'latin1'); // an HEVC entry: no codec string is built for it
  const p = new LlSession({ prefix: 'h', targetDuration: 1 }).rendition('hevc');
  feedLadder({ packagers: [p], inputs: [bytes], seed: 1, nowMs: 0 });
  t.same(p.measured().codecs, []);
  const text = renderMasterPlaylist([{ uri: 'hevc/index.m3u8', stats: p.measured() }])!;
  t.notMatch(text, /CODECS/);
  t.match(text, /RESOLUTION=320x180/);
});
