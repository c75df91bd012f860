// One round of bench:glass on one side: publish the coded live source, wait until the side
// serves it, open the viewers (ABR auto and pinned rungs), warm up, measure a window, stop.
import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { say, sleep } from './common.js';
import { openGlassPlayer, type GlassPlayer, type Pin, type PlayerMode, type PlayerReport } from './glass-player.js';
import { startGlassPublisher, type GlassSourceSpec } from './glass-source.js';
import type { SideName, Window } from './glass-summary.js';
import { createStream, getText, waitOursSettled, type Appliance, type Peer } from './live-sides.js';

export interface Timing {
  playableTimeoutMs: number;
  /** After the side first serves the stream: viewers join a running event, not its first segment. */
  prerollMs: number;
  warmupMs: number;
  measureMs: number;
}

export interface SideRound {
  side: SideName;
  gopSeconds: number;
  round: number;
  available: boolean;
  /** Why the side was not measured (LL not available, never playable, …). */
  note?: string;
  /** Publish → the side serving every rendition (s). */
  playableSeconds?: number;
  players: { pin: Pin; report: PlayerReport; window: Window }[];
  encodeDelaysMs: number[];
  /** The source's lag behind real time at the end of the window (s): a starved or back-pressured publisher slows the whole stream. */
  sourceBehindSeconds?: number;
  /** The same lag just before the viewers joined: what the side does without viewers. */
  sourceBehindAtJoinSeconds?: number;
  proxiedWithoutBlocking?: boolean;
}

export interface RoundContext {
  browser: Browser;
  spec: GlassSourceSpec;
  texture: Buffer;
  timing: Timing;
  app: Appliance;
  peer: Peer;
  /** BENCH_GLASS_NO_BLOCKING: the LL side's origin for the players (a proxy without blocking reload). */
  llPlayerOrigin: string | null;
  /** BENCH_GLASS_ONE_VIEWER=1: the viewers of a side watch one after another (warm-up + window each), not together: on 2 cores three Chromium viewers starve the appliance. */
  oneViewerAtATime: boolean;
}

const lines = (text: string) => text.split('\n').map((l) => l.trim());
const uris = (text: string) => lines(text).filter((l) => l !== '' && !l.startsWith('#'));

/** What the side serves right now: null until every variant lists a segment (or a part). */
async function served(url: string): Promise<{ media: string[] } | null> {
  const master = await getText(url).catch(() => null);
  if (master?.status !== 200) return null;
  const variants = master.text.includes('#EXT-X-STREAM-INF') ? uris(master.text).map((u) => new URL(u, url).href) : [url];
  if (variants.length === 0) return null;
  const media: string[] = [];
  for (const v of variants) {
    const m = await getText(v).catch(() => null);
    if (m?.status !== 200 || !(m.text.includes('#EXTINF') || m.text.includes('#EXT-X-PART:'))) return null;
    media.push(m.text);
  }
  return { media };
}

/** Whether the media playlists are LL-HLS with blocking reload; otherwise why not, in words. */
export function llVerdict(media: string[]): string | null {
  const parts = media.every((m) => m.includes('#EXT-X-PART:'));
  const blocking = media.every((m) => /#EXT-X-SERVER-CONTROL:.*CAN-BLOCK-RELOAD=YES/.test(m));
  if (parts && blocking) return null;
  return `the appliance served ${parts ? 'parts without CAN-BLOCK-RELOAD' : 'standard HLS (no EXT-X-PART)'} for a stream created with lowLatency: true`;
}

const PINS_OURS: Pin[] = ['auto', 'top', 'transcoded'];
const PINS_PEER: Pin[] = ['auto', 'auto', 'auto']; // one rendition: three ABR viewers, the same decode load as ours

export async function runSideRound(ctx: RoundContext, o: { side: SideName; round: number }): Promise<SideRound> {
  const result: SideRound = { side: o.side, gopSeconds: ctx.spec.gopSeconds, round: o.round, available: false, players: [], encodeDelaysMs: [] };
  let rtmpUrl: string;
  let playUrl: string;
  let settle: ((renditions: string[]) => Promise<void>) | null = null;
  if (o.side === 'nginx-rtmp') {
    const key = `glass${o.round}${randomBytes(4).toString('hex')}`;
    rtmpUrl = `rtmp://127.0.0.1:${ctx.peer.rtmpPort}/live/${key}`;
    playUrl = `http://127.0.0.1:${ctx.peer.httpPort}/hls/${key}.m3u8`;
  } else {
    const ll = o.side === 'll';
    const stream = await createStream(ctx.app, `bench glass ${o.side} gop ${ctx.spec.gopSeconds} round ${o.round}`, ll ? { lowLatency: true } : {});
    if (ll && (stream as unknown as { lowLatency?: unknown }).lowLatency !== true) {
      return { ...result, note: 'not available: the API did not take lowLatency: true' };
    }
    rtmpUrl = `rtmp://127.0.0.1:${ctx.app.rtmpPort}/live/${stream.streamKey}`;
    playUrl = `${ctx.app.base}/hls/${stream.playbackId}/master.m3u8`;
    settle = (renditions) => waitOursSettled(ctx.app, stream, renditions);
  }

  const publisher = startGlassPublisher(ctx.spec, rtmpUrl, ctx.texture);
  const started = Date.now();
  const players: { pin: Pin; player: GlassPlayer }[] = [];
  let renditions: string[] = [];
  try {
    let media: string[] | null = null;
    while (Date.now() - started < ctx.timing.playableTimeoutMs && publisher.child.process.exitCode === null) {
      const s = await served(playUrl);
      if (s) {
        media = s.media;
        break;
      }
      await sleep(200);
    }
    if (publisher.child.process.exitCode !== null) throw new Error(`the publisher exited: ${publisher.child.stderrTail() || 'no output'}`);
    if (media === null) {
      result.note = `${o.side === 'll' ? 'not available: ' : ''}nothing playable within ${ctx.timing.playableTimeoutMs / 1000} s`;
      return result;
    }
    result.playableSeconds = Math.round((Date.now() - started) / 100) / 10;
    if (o.side !== 'nginx-rtmp') {
      const master = await getText(playUrl);
      renditions = uris(master.text).map((u) => u.split('/')[0]!);
    }
    if (o.side === 'll') {
      const why = llVerdict(media);
      if (why !== null) {
        result.note = `not available: ${why}`;
        return result;
      }
    }
    result.available = true;
    let url = playUrl;
    if (o.side === 'll' && ctx.llPlayerOrigin) {
      url = ctx.llPlayerOrigin + new URL(playUrl).pathname;
      result.proxiedWithoutBlocking = true;
    }
    await sleep(ctx.timing.prerollMs);
    result.sourceBehindAtJoinSeconds = Math.round(publisher.behindSeconds() * 100) / 100;
    const mode: PlayerMode = o.side === 'll' ? 'll' : 'standard';
    const pins = o.side === 'nginx-rtmp' ? PINS_PEER : PINS_OURS;
    const groups = ctx.oneViewerAtATime ? pins.map((p) => [p]) : [pins];
    for (const group of groups) {
      const opened: { pin: Pin; player: GlassPlayer }[] = [];
      for (const pin of group) opened.push({ pin, player: await openGlassPlayer(ctx.browser, { hlsUrl: url, mode, pin }) });
      players.push(...opened);
      await sleep(ctx.timing.warmupMs);
      const window: Window = { from: Date.now(), to: Date.now() + ctx.timing.measureMs };
      await sleep(ctx.timing.measureMs);
      for (const { pin, player } of opened) {
        result.players.push({ pin, report: await player.report(), window });
        if (ctx.oneViewerAtATime) await player.close();
      }
    }
    result.encodeDelaysMs = publisher.encodeDelaysMs();
    result.sourceBehindSeconds = Math.round(publisher.behindSeconds() * 100) / 100;
    return result;
  } finally {
    for (const { player } of players) await player.close();
    await publisher.stop();
    if (settle && renditions.length > 0) await settle(renditions).catch((err: Error) => say(`  (${o.side} round ${o.round}: ${err.message}; continuing)`));
  }
}
