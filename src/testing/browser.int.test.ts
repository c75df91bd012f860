// The browser harness itself: Debian's Chromium plays an HLS stream through a real nginx with
// hls.js, and the page reports what it played. The stream is a short one ffmpeg writes into the
// media dir (no api, ingest or worker needed to check the harness).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { launchChromium, openHlsPlayer } from './browser.js';
import { run, startTestNginx, testDir } from './harness.js';

t.test('hls.js in Chromium plays an HLS stream through nginx and reports frames, time and errors', async (t) => {
  const dataDir = testDir('browser');
  const mediaDir = path.join(dataDir, 'media');
  const out = path.join(mediaDir, 'hls', 'browserharnesstest0', '360p');
  mkdirSync(out, { recursive: true, mode: 0o755 });
  const made = await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25', '-t', '8',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-pix_fmt', 'yuv420p',
    '-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod', '-hls_segment_filename', path.join(out, 'seg-%d.ts'), path.join(out, 'index.m3u8'),
  ]);
  t.equal(made.code, 0, made.stderr);
  const httpPort = await startTestNginx(t, { dataDir, mediaDir, apiPort: 9 }); // no api: only /hls/ is asked for
  const origin = `http://127.0.0.1:${httpPort}`;

  const browser = await launchChromium(t);
  const player = await openHlsPlayer(t, browser, { origin, hlsUrl: '/hls/browserharnesstest0/360p/index.m3u8' });
  const played = await player.waitUntil((f) => f.currentTime >= 3, { what: 'three seconds played', timeoutMs: 30_000 });
  t.ok(played.totalVideoFrames >= 50, `frames decoded (${played.totalVideoFrames})`);
  t.equal(played.fatal, false, 'no fatal hls.js error');
  t.equal(played.loads, 1, 'the page loaded once');

  const missing = await openHlsPlayer(t, browser, { origin, hlsUrl: '/hls/browserharnesstest0/none/index.m3u8' });
  const failed = await missing.waitUntil((f) => f.fatal, { what: 'a fatal error for a missing playlist', timeoutMs: 30_000 });
  t.ok(failed.errors.some((e) => e.details === 'manifestLoadError'), 'the error says what failed');
  t.equal(failed.totalVideoFrames, 0);
});
