// bench:glass: glass-to-glass latency as a viewer sees it. A live source carries the moment each
// frame left the publisher in its picture (glass-source.ts, glass-code.ts); hls.js in Debian's
// Chromium reads it back off the video (glass-player.ts): latency = display time − send time,
// one machine clock. Sides, same run, alternating rounds: Onair standard mode, Onair LL mode
// (reported "not available" until the appliance serves LL-HLS), nginx-rtmp's HLS.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchInt, benchWorkDir, checkIdle, isEnding, machineInfo, onCleanup, round, runBench, say, sleep, writeResult } from './common.js';
import { launchBrowser } from '../testing/browser.js';
import { APP_ROOT } from '../paths.js';
import { startNoBlockProxy } from './glass-noblock.js';
import type { Pin } from './glass-player.js';
import { runSideRound, type SideRound, type Timing } from './glass-rounds.js';
import { makeTexture, type GlassSourceSpec } from './glass-source.js';
import { figures, quantile, verdicts, type Figures, type SideName, type Verdict } from './glass-summary.js';
import { startAppliance, startPeer } from './live-sides.js';

const QUICK = process.env.BENCH_QUICK === '1';
const NO_BLOCKING = process.env.BENCH_GLASS_NO_BLOCKING === '1';
const ONE_VIEWER = process.env.BENCH_GLASS_ONE_VIEWER === '1';
const HLS_JS_VERSION = (JSON.parse(readFileSync(path.join(APP_ROOT, 'node_modules', 'hls.js', 'package.json'), 'utf8')) as { version: string }).version;
const ALL_SIDES: SideName[] = ['standard', 'll', 'nginx-rtmp'];

function settings() {
  const height = benchInt('glass', { name: 'BENCH_GLASS_HEIGHT', fallback: 720, min: 360, max: 1080 });
  const gopList = (process.env.BENCH_GLASS_GOPS ?? (QUICK ? '2' : '2,1')).split(',').map(Number);
  if (gopList.some((g) => !(g === 1 || g === 2))) {
    say(`bench:glass: BENCH_GLASS_GOPS must list keyframe intervals of 1 or 2 s (e.g. "2,1"), but it is "${process.env.BENCH_GLASS_GOPS}".`);
    process.exit(2);
  }
  const sides = (process.env.BENCH_GLASS_SIDES ?? ALL_SIDES.join(',')).split(',').map((x) => x.trim()) as SideName[];
  if (sides.length === 0 || sides.some((x) => !ALL_SIDES.includes(x))) {
    say(`bench:glass: BENCH_GLASS_SIDES must list some of ${ALL_SIDES.join(', ')} (comma-separated), but it is "${process.env.BENCH_GLASS_SIDES}".`);
    process.exit(2);
  }
  return {
    sides,
    height,
    width: Math.round((height * 16) / 9 / 2) * 2,
    gops: gopList,
    rounds: benchInt('glass', { name: 'BENCH_GLASS_ROUNDS', fallback: QUICK ? 1 : 2, min: 1, max: 5 }),
    peerHls: { playlistSeconds: benchInt('glass', { name: 'BENCH_GLASS_PEER_PLAYLIST', fallback: 12, min: 4, max: 60 }), waitKey: true },
    timing: {
      playableTimeoutMs: 45_000,
      prerollMs: benchInt('glass', { name: 'BENCH_GLASS_PREROLL', fallback: QUICK ? 10 : 15, min: 0, max: 120 }) * 1000,
      warmupMs: benchInt('glass', { name: 'BENCH_GLASS_WARMUP', fallback: QUICK ? 8 : 12, min: 3, max: 60 }) * 1000,
      measureMs: benchInt('glass', { name: 'BENCH_GLASS_SECONDS', fallback: QUICK ? 20 : 45, min: 10, max: 300 }) * 1000,
    } satisfies Timing,
  };
}

const fmt = (x: number | null) => (x === null ? '—' : x.toFixed(2));

function describe(r: SideRound): string {
  const head = `  GOP ${r.gopSeconds} s round ${r.round} ${r.side.padEnd(10)}`;
  if (!r.available) return `${head} ${r.note}`;
  const per = r.players.map((p) => {
    const f = figures([p]);
    return `${p.pin} p50 ${fmt(f.p50)} p90 ${fmt(f.p90)} (${f.frames} fr, ${Object.keys(f.renditions).join('/') || '?'}, ${f.stallsPerMinute} st/min, ${p.report.droppedFrames}/${p.report.decodedFrames} dropped${f.fatalErrors.length ? `, FATAL ${f.fatalErrors.join(',')}` : ''})`;
  });
  return `${head} playable after ${r.playableSeconds} s, source ${r.sourceBehindAtJoinSeconds ?? '?'} s behind real time when the viewers joined, ${r.sourceBehindSeconds ?? '?'} s at the end${r.proxiedWithoutBlocking ? ' [NO BLOCKING proxy]' : ''}: ${per.join('; ')}`;
}

interface GopSummary {
  gopSeconds: number;
  encodeDelayMs: { p50: number | null; p90: number | null; frames: number };
  sides: Partial<Record<SideName, { available: boolean; note?: string; byPin: Partial<Record<Pin, Figures>>; sourceBehindMaxSeconds: number | null }>>;
  ratioStandardToPeer: number | null;
  verdicts: Verdict[];
}

function summarize(gop: number, rounds: SideRound[]): GopSummary {
  const mine = rounds.filter((r) => r.gopSeconds === gop);
  const delays = mine.flatMap((r) => r.encodeDelaysMs).sort((a, b) => a - b);
  const sides: GopSummary['sides'] = {};
  for (const side of ALL_SIDES) {
    const rs = mine.filter((r) => r.side === side);
    if (rs.length === 0) continue;
    const avail = rs.filter((r) => r.available);
    const byPin: Partial<Record<Pin, Figures>> = {};
    for (const pin of ['auto', 'top', 'transcoded'] as Pin[]) {
      const parts = avail.flatMap((r) => r.players.filter((p) => p.pin === pin));
      if (parts.length) byPin[pin] = figures(parts);
    }
    const behind = avail.map((r) => r.sourceBehindSeconds).filter((x): x is number => x !== undefined);
    sides[side] = { available: avail.length > 0, note: rs.find((r) => !r.available)?.note, byPin, sourceBehindMaxSeconds: behind.length ? Math.max(...behind) : null };
  }
  const std = sides.standard?.byPin.auto ?? null;
  const peer = sides['nginx-rtmp']?.byPin.auto ?? null;
  const ratio = std?.p50 != null && peer?.p50 != null ? round(std.p50 / peer.p50, 2) : null;
  return {
    gopSeconds: gop,
    encodeDelayMs: { p50: quantile(delays, 0.5), p90: quantile(delays, 0.9), frames: delays.length },
    sides,
    ratioStandardToPeer: ratio,
    verdicts: verdicts({ gopSeconds: gop, standardAuto: std, peer, ll: sides.ll?.available ? sides.ll.byPin : null }),
  };
}

function summaryBlock(s: GopSummary[], date: string): string[] {
  const out = [`bench:glass (${date.slice(0, 10)}; glass to glass, hls.js ${HLS_JS_VERSION} in Chromium, p50 / p90 / p99 in s; stalls per minute)`];
  for (const g of s) {
    out.push(`  publisher GOP ${g.gopSeconds} s (source encode to the wire: p50 ${g.encodeDelayMs.p50 ?? '—'} ms, p90 ${g.encodeDelayMs.p90 ?? '—'} ms)`);
    for (const side of ALL_SIDES) {
      const x = g.sides[side];
      if (!x) continue;
      if (!x.available) {
        out.push(`    ${side.padEnd(10)} ${x.note}`);
        continue;
      }
      for (const [pin, f] of Object.entries(x.byPin)) {
        const label = side === 'nginx-rtmp' ? 'auto (3 viewers)' : pin;
        out.push(`    ${side.padEnd(10)} ${label.padEnd(16)} ${fmt(f.p50)} / ${fmt(f.p90)} / ${fmt(f.p99)}  stalls ${f.stallsPerMinute}/min  ${f.fpsShown} fps shown  fatal ${f.fatalErrors.length}  ${Object.entries(f.renditions).map(([h, share]) => `${h} ${Math.round(share * 100)} %`).join(', ')}`);
      }
    }
    const lags = ALL_SIDES.filter((x) => g.sides[x]?.sourceBehindMaxSeconds != null).map((x) => `${x} ${g.sides[x]!.sourceBehindMaxSeconds} s`);
    if (lags.length) out.push(`    the source's lag behind real time at the end of a window (max; > 1 s: the side back-pressured the publisher or the machine starved it): ${lags.join(', ')}`);
    out.push(`    standard (auto) / nginx-rtmp p50: ${g.ratioStandardToPeer ?? '—'} (target ≤ 1.0)`);
    for (const v of g.verdicts) out.push(`    ${v.met === null ? 'n/a ' : v.met ? 'met ' : 'NOT '} ${v.what}: ${v.detail}`);
  }
  return out;
}

async function main(): Promise<void> {
  const cfg = settings();
  const machine = machineInfo();
  const busyCpusBefore = await checkIdle();
  const loadBefore = os.loadavg().map((x) => round(x, 2));
  const { work, keep } = await benchWorkDir('glass');
  say(`bench:glass on ${machine.nproc} × ${machine.cpuModel}; source ${cfg.width}x${cfg.height} 30 fps, GOPs ${cfg.gops.join(', ')} s, ${cfg.rounds} round(s), viewers join ${cfg.timing.prerollMs / 1000} s after the stream is served, ${cfg.timing.warmupMs / 1000} s warm-up + ${cfg.timing.measureMs / 1000} s measured per side${QUICK ? ' (quick)' : ''}${ONE_VIEWER ? '; one viewer at a time' : '; 3 viewers together'}${NO_BLOCKING ? '; LL side WITHOUT blocking reload (the proof run: LL targets must fail)' : ''}`);
  const app = await startAppliance(work);
  const peer = await startPeer(work, cfg.peerHls);
  const browser = await launchBrowser({ teardown: (fn) => onCleanup(async () => void (await fn())) });
  let llPlayerOrigin: string | null = null;
  if (NO_BLOCKING) {
    const proxy = await startNoBlockProxy(app.base);
    onCleanup(() => proxy.close());
    llPlayerOrigin = proxy.origin;
  }
  const texture = makeTexture(cfg.width, cfg.height);

  const rounds: SideRound[] = [];
  for (const gop of cfg.gops) {
    const spec: GlassSourceSpec = { width: cfg.width, height: cfg.height, fps: 30, gopSeconds: gop, videoKbps: cfg.height >= 1080 ? 4500 : 2500 };
    for (let n = 1; n <= cfg.rounds && !isEnding(); n++) {
      for (const side of cfg.sides) {
        if (isEnding()) break;
        const r = await runSideRound({ browser, spec, texture, timing: cfg.timing, app, peer, llPlayerOrigin, oneViewerAtATime: ONE_VIEWER }, { side, round: n });
        if (isEnding()) break;
        rounds.push(r);
        say(describe(r));
        await sleep(2_000); // let the CPU settle between sides
      }
    }
  }

  const date = new Date().toISOString();
  const gops = cfg.gops.map((g) => summarize(g, rounds));
  const failedTargets = gops.flatMap((g) => g.verdicts).filter((v) => v.met === false);
  keep(rounds.some((r) => r.side !== 'll' && !r.available));
  const out = await writeResult(NO_BLOCKING ? 'glass-no-blocking' : 'glass', {
    date,
    machine: { ...machine, busyCpusBefore, loadBefore, loadAfter: os.loadavg().map((x) => round(x, 2)) },
    source: { width: cfg.width, height: cfg.height, fps: 30, encoder: 'libx264 veryfast zerolatency, bf 0, CBR', gops: cfg.gops },
    method:
      'send time (Date.now() mod 2^32, CRC-16) drawn as 2×24 blocks into each raw frame written to the publishing ffmpeg in real time; hls.js in Chromium reads it on every requestVideoFrameCallback; latency = expected display time − send time; percentiles over the measured window after the warm-up',
    peer: `nginx-rtmp (libnginx-mod-rtmp), hls_fragment 2s, hls_playlist_length ${cfg.peerHls.playlistSeconds}s, wait_key on; hls.js defaults`,
    noBlocking: NO_BLOCKING,
    oneViewerAtATime: ONE_VIEWER,
    timing: cfg.timing,
    gops,
    rounds: rounds.map((r) => ({ ...r, players: r.players.map((p) => ({ pin: p.pin, window: p.window, figures: figures([p]), hlsLatency: p.report.hlsLatency, targetLatency: p.report.targetLatency, pinnedHeight: p.report.pinnedHeight, droppedFrames: p.report.droppedFrames, decodedFrames: p.report.decodedFrames, levelHeights: p.report.levelHeights, errors: p.report.errors.slice(0, 50) })), encodeDelaysMs: undefined })),
  });
  say('');
  for (const line of summaryBlock(gops, date)) say(line);
  say(`  machine: ${busyCpusBefore} CPUs busy before the run; load average ${loadBefore.join(' ')} at the start, ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`);
  say(`  results: ${out}`);
  say(`  work dir: ${path.basename(work)}`);
  say('');
  // a target not met fails the run (exit 1): BENCH_GLASS_NO_BLOCKING=1 must end here
  if (failedTargets.length) throw new Error(`${failedTargets.length} target(s) NOT met: ${failedTargets.map((v) => v.what).join('; ')}`);
  say('bench:glass: every measured target met (n/a: not measurable in this run)');
}

runBench('bench:glass', main, 30 * 60_000);
