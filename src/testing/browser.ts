// Browser tests: Debian's Chromium driven by playwright-core, playing HLS with hls.js the way a
// viewer does. Nothing comes from the internet: hls.js is read from node_modules and the player
// page is served by Playwright under the test nginx's own origin (page.route answers only
// /__onair-player/…; every playlist and segment request goes to the real nginx), so the page,
// hls.js and the media share one origin and no CORS or mixed-content question arises.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { APP_ROOT } from '../paths.js';
import { testEnv, type Teardown } from './harness.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Chromium as root in a closed network: no sandbox, no GPU, nothing that phones home. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--autoplay-policy=no-user-gesture-required',
];

/**
 * Starts Chromium on a fresh, empty profile (--user-data-dir: Playwright takes it as the
 * persistent context's directory); Chromium and the profile go at teardown.
 */
export async function launchChromium(t: Teardown): Promise<BrowserContext> {
  const profile = mkdtempSync(path.join(testEnv().workDir, 'chromium-'));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  t.teardown(async () => {
    await browser.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  });
  return browser;
}

/**
 * Chromium for tests with several people: each `newContext()` is a separate browser profile
 * (its own storage, so its own signed-in user). Closed at teardown.
 */
export async function launchBrowser(t: Teardown): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  t.teardown(() => browser.close().catch(() => undefined));
  return browser;
}

/** What the page reports about its playback. */
export interface PlaybackFacts {
  currentTime: number;
  /** Frames the video element decoded since the page loaded (getVideoPlaybackQuality). */
  totalVideoFrames: number;
  paused: boolean;
  readyState: number;
  /** hls.js errors in order: type, details, fatal. */
  errors: { type: string; details: string; fatal: boolean }[];
  /** True when some error was fatal (hls.js gave up on its own). */
  fatal: boolean;
  /** How many times the page document loaded: 1 unless something reloaded it. */
  loads: number;
  /** Playlist levels hls.js found in the master playlist. */
  levels: number;
}

export interface HlsPlayer {
  page: Page;
  facts(): Promise<PlaybackFacts>;
  /** Waits until the facts satisfy `pred` (polling every 250 ms); throws with the last facts on timeout. */
  waitUntil(pred: (f: PlaybackFacts) => boolean, o: { what: string; timeoutMs: number }): Promise<PlaybackFacts>;
}

const PLAYER_PATH = '/__onair-player/';

function playerHtml(src: string): string {
  // a load counter in sessionStorage survives a reload of the same tab: a reload shows as loads > 1
  return `<!doctype html><html><head><meta charset="utf-8"><title>player</title>
<script src="${PLAYER_PATH}hls.min.js"></script></head>
<body><video id="v" muted autoplay playsinline style="width:320px"></video>
<script>
  const loads = Number(sessionStorage.getItem('onairLoads') || '0') + 1;
  sessionStorage.setItem('onairLoads', String(loads));
  window.onair = { errors: [], loads, levels: 0 };
  const video = document.getElementById('v');
  const hls = new Hls({ liveDurationInfinity: true });
  hls.on(Hls.Events.ERROR, (_e, d) => window.onair.errors.push({ type: String(d.type), details: String(d.details), fatal: !!d.fatal }));
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => { window.onair.levels = d.levels.length; video.play().catch(() => undefined); });
  hls.loadSource(${JSON.stringify(src)});
  hls.attachMedia(video);
  window.onair.hls = hls;
</script></body></html>`;
}

/**
 * Opens a page under `origin` (the test nginx, e.g. http://127.0.0.1:<port>) whose hls.js plays
 * `hlsUrl` (absolute, or a path on that origin). The page is closed at teardown.
 */
export async function openHlsPlayer(t: Teardown, browser: BrowserContext, o: { origin: string; hlsUrl: string }): Promise<HlsPlayer> {
  const hlsJs = readFileSync(path.join(APP_ROOT, 'node_modules', 'hls.js', 'dist', 'hls.min.js'));
  const src = new URL(o.hlsUrl, o.origin).toString();
  const page = await browser.newPage();
  t.teardown(() => page.close().catch(() => undefined));
  await page.route(`${o.origin}${PLAYER_PATH}**`, async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === `${PLAYER_PATH}hls.min.js`) return route.fulfill({ status: 200, contentType: 'text/javascript', body: hlsJs });
    if (url.pathname === `${PLAYER_PATH}index.html`) return route.fulfill({ status: 200, contentType: 'text/html', body: playerHtml(src) });
    return route.fulfill({ status: 404, body: 'not found' });
  });
  await page.goto(`${o.origin}${PLAYER_PATH}index.html`);

  const facts = (): Promise<PlaybackFacts> =>
    page.evaluate(() => {
      const w = window as unknown as { onair: { errors: PlaybackFacts['errors']; loads: number; levels: number } };
      const v = document.getElementById('v') as HTMLVideoElement;
      const q = v.getVideoPlaybackQuality();
      return {
        currentTime: v.currentTime,
        totalVideoFrames: q.totalVideoFrames,
        paused: v.paused,
        readyState: v.readyState,
        errors: w.onair.errors.slice(),
        fatal: w.onair.errors.some((e) => e.fatal),
        loads: w.onair.loads,
        levels: w.onair.levels,
      };
    });

  return {
    page,
    facts,
    async waitUntil(pred, w) {
      const deadline = Date.now() + w.timeoutMs;
      let last: PlaybackFacts | null = null;
      for (;;) {
        last = await facts();
        if (pred(last)) return last;
        if (Date.now() > deadline) throw new Error(`Timed out waiting for ${w.what}; the player says ${JSON.stringify(last)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
  };
}
