// bench:llorigin's viewers read the newest part off a media playlist the way hls.js counts it.
import t from 'tap';
import { newestPart } from './ll-clients.js';

t.test('the newest part: msn = media sequence + complete segments, index = parts after the last EXTINF', async (t) => {
  const text = ['#EXTM3U', '#EXT-X-MEDIA-SEQUENCE:41', '#EXT-X-PART:DURATION=0.2,URI="p41.0.m4s"', '#EXTINF:2.0,', 's41.m4s', '#EXTINF:2.0,', 's42.m4s', '#EXT-X-PART:DURATION=0.2,URI="p43.0.m4s",INDEPENDENT=YES', '#EXT-X-PART:DURATION=0.2,URI="p43.1.m4s"', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p43.2.m4s"'].join('\n');
  t.same(newestPart(text), { msn: 43, part: 1, uri: 'p43.1.m4s' });
  t.equal(newestPart('#EXTM3U\n#EXTINF:2,\ns1.m4s\n'), null, 'no part: nothing to ask for');
  t.equal(newestPart('not a playlist'), null);
});
