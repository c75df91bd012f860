// BENCH_GLASS_NO_BLOCKING's proxy: LL playlists keep their parts but lose blocking reload, and
// the origin behind it never sees a blocking directive.
import t from 'tap';
import http from 'node:http';
import type net from 'node:net';
import { startNoBlockProxy, withoutBlocking, withoutDirectives } from './glass-noblock.js';

const LL = `#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.702
#EXT-X-PART-INF:PART-TARGET=0.234
#EXT-X-PART:DURATION=0.2,URI="p1.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p1.1.m4s"`;

t.test('CAN-BLOCK-RELOAD goes, everything else stays', async (t) => {
  const out = withoutBlocking(LL);
  t.notMatch(out, /CAN-BLOCK-RELOAD/);
  t.match(out, /^#EXT-X-SERVER-CONTROL:PART-HOLD-BACK=0\.702$/m, 'PART-HOLD-BACK kept');
  t.equal(out.split('\n').length, LL.split('\n').length, 'no other line touched');
  t.match(out, /#EXT-X-PART:DURATION=0\.2/);
  t.equal(withoutBlocking('#EXTM3U\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n'), '#EXTM3U\n', 'a server-control line with nothing else left goes');
});

t.test('the blocking directives are dropped from playlist requests, other parameters kept', async (t) => {
  t.equal(withoutDirectives('/hls/a/720p/index.m3u8?_HLS_msn=12&_HLS_part=3&token=x'), '/hls/a/720p/index.m3u8?token=x');
  t.equal(withoutDirectives('/hls/a/720p/index.m3u8?_HLS_msn=12&_HLS_skip=YES'), '/hls/a/720p/index.m3u8');
});

t.test('through the proxy: playlists rewritten, media passed as is, the origin asked without directives', async (t) => {
  const asked: string[] = [];
  const origin = http.createServer((req, res) => {
    asked.push(req.url ?? '');
    if ((req.url ?? '').includes('.m3u8')) res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }).end(LL);
    else res.writeHead(200, { 'content-type': 'video/mp4' }).end(Buffer.from('CAN-BLOCK-RELOAD=YES media bytes'));
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => origin.close(() => r())));
  const proxy = await startNoBlockProxy(`http://127.0.0.1:${(origin.address() as net.AddressInfo).port}`);
  t.teardown(() => proxy.close());
  const pl = await fetch(`${proxy.origin}/hls/x/720p/index.m3u8?_HLS_msn=5&_HLS_part=1`);
  t.equal(pl.status, 200);
  const text = await pl.text();
  t.notMatch(text, /CAN-BLOCK-RELOAD/, 'the playlist lost blocking reload');
  t.match(text, /#EXT-X-PART:/, 'and kept its parts');
  t.equal(asked[0], '/hls/x/720p/index.m3u8', 'the origin saw no directive');
  const media = await fetch(`${proxy.origin}/hls/x/720p/p1.0.m4s`);
  t.equal(await media.text(), 'CAN-BLOCK-RELOAD=YES media bytes', 'media is not rewritten');
});
