import t from 'tap';
import { hasEndList, parseSegments, recordingMaster, recordingPlaylist, totalSeconds } from './playlist.js';

const live = [
  '#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:7', '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXTINF:2.000000,', 'seg-ab12-000007.ts',
  '#EXT-X-DISCONTINUITY',
  '#EXTINF:1.900000,', 'seg-ab12-000008.ts',
  '#EXTINF:2.100000,', '../../etc/passwd',
  '#EXTINF:2.000000,', 'seg-ab12-000009.ts',
  '',
].join('\n');

t.test('a live playlist’s segments: names, durations, discontinuities; anything but a plain name is skipped', async (t) => {
  t.same(parseSegments(live), [
    { name: 'seg-ab12-000007.ts', seconds: 2, discontinuity: false },
    { name: 'seg-ab12-000008.ts', seconds: 1.9, discontinuity: true },
    { name: 'seg-ab12-000009.ts', seconds: 2, discontinuity: false },
  ]);
  t.equal(totalSeconds(parseSegments(live)), 5.9);
});

t.test('a recording playlist is EVENT while written and VOD with ENDLIST once finalised; reading it back gives the same segments', async (t) => {
  const segs = parseSegments(live);
  const event = recordingPlaylist(segs, { type: 'EVENT' });
  t.match(event, /#EXT-X-PLAYLIST-TYPE:EVENT\n/);
  t.notOk(hasEndList(event));
  t.match(event, /#EXT-X-TARGETDURATION:2\n/);
  t.match(event, /#EXT-X-DISCONTINUITY\n#EXTINF:1\.900000,\nseg-ab12-000008\.ts/);
  const vod = recordingPlaylist(segs, { type: 'VOD' });
  t.match(vod, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
  t.ok(hasEndList(vod));
  t.same(parseSegments(vod), segs);
  t.same(parseSegments(event), segs);
  // a discontinuity before the very first segment has nothing to separate
  t.notMatch(recordingPlaylist([{ ...segs[1]! }], { type: 'VOD' }), /DISCONTINUITY/);
});

t.test('the master lists the rungs it is given, in order', async (t) => {
  const text = recordingMaster([
    { name: '720p', width: 1280, height: 720, bandwidth: 3000000, codecs: 'avc1.640028,mp4a.40.2', frameRate: 30 },
    { name: '360p', width: 640, height: 360, bandwidth: 900000, codecs: 'avc1.64001e,mp4a.40.2', frameRate: 30 },
  ]);
  t.equal(text, '#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.640028,mp4a.40.2",FRAME-RATE=30.000\n720p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2",FRAME-RATE=30.000\n360p/index.m3u8\n');
});
