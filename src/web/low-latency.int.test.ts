// Low-latency mode in the web face, in Debian's Chromium: the console switches a stream to low
// latency (from its next publish); the watch page then plays the LL-HLS ladder with hls.js in
// low-latency mode — its playlist requests are blocking reloads (`_HLS_msn`/`_HLS_part`), it loads
// parts, marks the stream "Low latency" and shows the distance to the live edge.
import t from 'tap';
import { launchChromium } from '../testing/browser.js';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { screenshot, signIn } from '../testing/web-pages.js';

const stack = await startStack(t);
const browser = await launchChromium(t);

t.test('the console turns low latency on; the watch page plays the stream with blocking reloads and parts', async (t) => {
  const s = await stack.createStream('ll web');
  const { session } = await stack.liveSessionOn(s.id, 'LL in the browser');
  const page = await browser.newPage();
  t.teardown(() => page.close());
  await signIn(page, { base: stack.base, email: 'admin@test.local', password: 'admin-password', next: `/console/streams/${s.id}` });
  const box = page.getByRole('group', { name: 'Stream controls' }).getByLabel(/Low latency/);
  t.notOk(await box.isChecked(), 'off by default');
  await box.check();
  await waitFor(async () => (await stack.api('GET', `/streams/${s.id}`, undefined, stack.token)).body.lowLatency === true, { what: 'the API to agree', timeoutMs: 10_000 });
  t.pass('the console switched it on');

  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 1280, height: 720, fps: 25, seconds: 90, videoKbps: 1500, gopSeconds: 1 });
  await page.getByText('This publish runs in low-latency mode (LL-HLS).').waitFor({ timeout: 60_000 });
  t.pass('the stream page says the publish runs in low-latency mode');

  const blocking: string[] = [];
  const parts: string[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.endsWith('/index.m3u8') && u.searchParams.has('_HLS_msn')) blocking.push(u.search);
    if (/-part\d+\.m4s$/.test(u.pathname)) parts.push(u.pathname);
  });
  await page.goto(`${stack.base}/watch/${session.id}`);
  await page.getByLabel('Video: Main').waitFor({ timeout: 60_000 });
  await page.waitForFunction(() => (document.querySelector('video')?.currentTime ?? 0) > 2, undefined, { timeout: 60_000 });
  await page.getByText('Low latency', { exact: true }).waitFor();
  t.pass('the player marks the stream "Low latency"');
  await waitFor(() => blocking.length >= 5 && parts.length >= 5, { what: 'blocking reloads and parts', timeoutMs: 20_000 });
  t.match(blocking[0], /_HLS_msn=\d+&_HLS_part=\d+/, 'hls.js asks for the next part with a blocking reload');
  t.match(await page.getByTestId('latency').textContent(), /s behind live/, 'the distance to the live edge');
  t.comment(`latency shown: ${await page.getByTestId('latency').textContent()}; screenshot ${await screenshot(page, { name: 'watch-low-latency', width: 1280, height: 800 })}`);
});
