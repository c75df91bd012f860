// bench:glass's viewer: a page in Debian's Chromium playing the HLS with hls.js (from
// node_modules, served by page.route under the media's own origin: no internet, no CORS). On
// every requestVideoFrameCallback it draws the top of the picture to a canvas, reads the send
// time off it with glass-code.ts's own readCode and records (display time − send time).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { APP_ROOT } from '../paths.js';
import { readCode, timeOfCode } from './glass-code.js';

/** standard: hls.js defaults; ll: the LL settings of LL-HLS-NOTES §6.5 (catch-up, one seek to the live edge). */
export type PlayerMode = 'standard' | 'll';
/** auto: ABR; top: the highest rung (the copy rung) pinned; transcoded: the lowest rung pinned. */
export type Pin = 'auto' | 'top' | 'transcoded';

export interface PlayerReport {
  /** [display time ms, latency ms, picture height] of every frame read. */
  samples: [number, number, number][];
  /** Frames whose code did not read (CRC or a grey block): discarded, counted. */
  rejected: number;
  /** Wall-clock times of the video's waiting events after it first played. */
  waiting: number[];
  /** Wall-clock times of hls.js bufferStalledError. */
  stalled: number[];
  errors: { t: number; details: string; fatal: boolean }[];
  levelHeights: number[];
  pinnedHeight: number | null;
  autoLevelEnabled: boolean | null;
  hlsLatency: number | null;
  targetLatency: number | null;
  seekedToLiveEdge: boolean;
  firstPlayingAt: number | null;
  /** getVideoPlaybackQuality: frames the browser dropped (a starved CPU shows here) and decoded. */
  droppedFrames: number;
  decodedFrames: number;
}

const PAGE = '/__glass/';

function pageHtml(o: { src: string; mode: PlayerMode; pin: Pin }): string {
  const config = o.mode === 'll' ? { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, liveSyncOnStallIncrease: 0.25 } : {};
  return `<!doctype html><html><head><meta charset="utf-8"><title>glass</title>
<script src="${PAGE}hls.min.js"></script></head>
<body><video id="v" muted autoplay playsinline style="width:480px"></video>
<script>
const readCode = ${readCode.toString()};
const timeOfCode = ${timeOfCode.toString()};
const g = window.glass = { samples: [], rejected: 0, waiting: [], stalled: [], errors: [], levelHeights: [], pinnedHeight: null, seekedToLiveEdge: false, firstPlayingAt: null };
const video = document.getElementById('v');
const canvas = document.createElement('canvas');
const W = 480;
canvas.width = W; canvas.height = 120;
const ctx = canvas.getContext('2d', { willReadFrequently: true });
const hls = new Hls(${JSON.stringify(config)});
window.hls = hls;
hls.on(Hls.Events.ERROR, (_e, d) => {
  g.errors.push({ t: Date.now(), details: String(d.details), fatal: !!d.fatal });
  if (d.details === 'bufferStalledError') g.stalled.push(Date.now());
});
hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
  g.levelHeights = d.levels.map((l) => l.height);
  const pin = ${JSON.stringify(o.pin)};
  if (pin !== 'auto' && d.levels.length > 0) {
    const hs = g.levelHeights;
    const want = pin === 'top' ? Math.max(...hs) : Math.min(...hs);
    const idx = hs.indexOf(want);
    hls.startLevel = idx;
    hls.currentLevel = idx;
    g.pinnedHeight = want;
  }
  video.play().catch(() => undefined);
});
video.addEventListener('playing', () => {
  if (g.firstPlayingAt === null) {
    g.firstPlayingAt = Date.now();
    if (${o.mode === 'll'} && hls.liveSyncPosition) { video.currentTime = hls.liveSyncPosition; g.seekedToLiveEdge = true; }
  }
});
video.addEventListener('waiting', () => { if (g.firstPlayingAt !== null) g.waiting.push(Date.now()); });
function onFrame(_now, meta) {
  const vw = video.videoWidth, vh = video.videoHeight;
  if (vw && vh) {
    // the code is the top sixth of the picture (2 rows of 1/12): only that part is drawn and read
    const ch = Math.max(12, Math.round((W * vh) / vw / 6));
    ctx.drawImage(video, 0, 0, vw, vh / 6, 0, 0, W, ch);
    const px = ctx.getImageData(0, 0, W, ch).data;
    const code = readCode((x, y) => px[(y * W + x) * 4 + 1], W, ch * 6);
    const shown = Date.now() + (meta.expectedDisplayTime - performance.now());
    if (code === null) g.rejected++;
    else {
      const latency = shown - timeOfCode(code, shown);
      if (latency > 120000) g.rejected++; // a code from the future of this clock: misread
      else g.samples.push([Math.round(shown), Math.round(latency), vh]);
    }
  }
  video.requestVideoFrameCallback(onFrame);
}
video.requestVideoFrameCallback(onFrame);
hls.loadSource(${JSON.stringify(o.src)});
hls.attachMedia(video);
</script></body></html>`;
}

export interface GlassPlayer {
  page: Page;
  report(): Promise<PlayerReport>;
  close(): Promise<void>;
}

let hlsJs: Buffer | null = null;

/** A viewer of `hlsUrl` (absolute) with its own browser context; its page lives under the URL's origin. */
export async function openGlassPlayer(browser: Browser, o: { hlsUrl: string; mode: PlayerMode; pin: Pin }): Promise<GlassPlayer> {
  hlsJs ??= readFileSync(path.join(APP_ROOT, 'node_modules', 'hls.js', 'dist', 'hls.min.js'));
  const origin = new URL(o.hlsUrl).origin;
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.route(`${origin}${PAGE}**`, (route) => {
    const p = new URL(route.request().url()).pathname;
    if (p === `${PAGE}hls.min.js`) return route.fulfill({ status: 200, contentType: 'text/javascript', body: hlsJs! });
    if (p === `${PAGE}index.html`) return route.fulfill({ status: 200, contentType: 'text/html', body: pageHtml({ src: o.hlsUrl, ...o }) });
    return route.fulfill({ status: 404, body: 'not found' });
  });
  await page.goto(`${origin}${PAGE}index.html`);
  return {
    page,
    report: () =>
      page.evaluate(() => {
        const w = window as unknown as { glass: Omit<PlayerReport, 'autoLevelEnabled' | 'hlsLatency' | 'targetLatency' | 'droppedFrames' | 'decodedFrames'>; hls: { autoLevelEnabled: boolean; latency: number; targetLatency: number | null } };
        const n = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
        const q = (document.getElementById('v') as HTMLVideoElement).getVideoPlaybackQuality();
        return { ...w.glass, droppedFrames: q.droppedVideoFrames, decodedFrames: q.totalVideoFrames, autoLevelEnabled: w.hls.autoLevelEnabled, hlsLatency: n(w.hls.latency), targetLatency: n(w.hls.targetLatency) };
      }),
    close: () => context.close().catch(() => undefined),
  };
}
