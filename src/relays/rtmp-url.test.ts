// Destination server URLs as organisers paste them (the platforms' documented ingest URLs).
import t from 'tap';
import { scrubKey } from './relay-errors.js';
import { parseRtmpUrl, trustedCas } from './rtmp-url.js';

t.test('platform URLs: app and tcUrl as OBS would send them, default ports 1935 / 443', async (t) => {
  t.same(parseRtmpUrl('rtmp://a.rtmp.youtube.com/live2'), { secure: false, host: 'a.rtmp.youtube.com', port: 1935, app: 'live2', tcUrl: 'rtmp://a.rtmp.youtube.com/live2' });
  t.same(parseRtmpUrl('rtmps://live-api-s.facebook.com:443/rtmp/'), { secure: true, host: 'live-api-s.facebook.com', port: 443, app: 'rtmp', tcUrl: 'rtmps://live-api-s.facebook.com:443/rtmp' });
  t.match(parseRtmpUrl('rtmps://live.twitch.tv/app'), { secure: true, port: 443, app: 'app' });
  t.match(parseRtmpUrl('rtmp://[::1]:1936/live?x=1'), { host: '::1', port: 1936, app: 'live?x=1', tcUrl: 'rtmp://[::1]:1936/live?x=1' });
});

t.test('what is not an RTMP server URL is refused in words', async (t) => {
  t.throws(() => parseRtmpUrl('http://example.com/live'), /must start with rtmp:\/\/ or rtmps:\/\//);
  t.throws(() => parseRtmpUrl('rtmp://example.com'), /no application path/);
  t.throws(() => parseRtmpUrl('rtmp://u:p@example.com/live'), /user or password/);
  t.throws(() => parseRtmpUrl('not a url'), /not a URL/);
});

t.test('the system CA store is what RTMPS trusts, plus the extra CA given', async (t) => {
  const cas = trustedCas({ extraCaPem: 'EXTRA', systemCaFile: '/etc/ssl/certs/ca-certificates.crt' });
  t.equal(cas.length, 2);
  t.match(cas[0], /BEGIN CERTIFICATE/);
  t.equal(cas[1], 'EXTRA');
  t.ok(trustedCas({ systemCaFile: '/nonexistent' }).length > 50, "Node's bundled list where the system has none");
});

t.test('scrubKey: the key and line breaks out of foreign text', async (t) => {
  t.equal(scrubKey('bad name abc123\r\nforged line', 'abc123'), 'bad name [stream key] forged line');
});
