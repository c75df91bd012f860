// bench:relay: what a codec-copy relay costs. One 1080p30 source (bench:transcode's cached
// source, 4.5 Mb/s H.264 + AAC, published in real time over RTMP by ffmpeg -c copy, looped) goes through
// the real appliance (ingest → the worker's one ffmpeg: the HLS ladder plus the relay's copy
// output on a pipe → one RTMP publisher per destination in the worker's Node process) to 0, 1, 3
// and 10 destinations: stream names on one nginx-rtmp on this machine (nothing recorded).
//
// The configurations are switched while the stream stays live (destinations enabled and disabled
// through the API, as an organiser does), there and back (0 1 3 10 10 3 1 0) so drift touches
// each the same way; each window starts once the API shows exactly the wanted destinations live.
// CPU is user+system from /proc over the window: the worker's ffmpeg and the worker's Node process
// apart, the destinations' nginx apart (the load generator's side, not ours). 0 destinations is
// the baseline: the ladder with the relay's pipe idle (the copy output is part of every live
// transcode, so its small fixed cost is in the baseline, not in the per-destination figure).
// Per destination = (CPU(n) − CPU(0)) / n, against the ladder's CPU (ffmpeg at 0) in the same run.
import path from 'node:path';
import { machineCpu, machineInfo, benchInt, benchWorkDir, checkIdle, ensureSource, isEnding, OBS_LIKE_1080P, onCleanup, probeDuration, processCpuSeconds, processTreeCpuSeconds, round, runBench, say, sleep, startChild, stopChild, writeResult } from './common.js';
import { api, ffmpegOf, startAppliance, startDestinationServer, workerCounter, type Appliance } from './relay-setup.js';
import { waitFor } from '../testing/harness.js';
import { summarize, type Window } from './relay-summary.js';

const SOURCE_SECONDS = 20; // bench:transcode's cached source, looped
const CONFIGS = [0, 1, 3, 10] as const;
const ORDER = [0, 1, 3, 10, 10, 3, 1, 0];
/** Loops of the source per window: every window then encodes the same pictures (the ladder's CPU varies with them). */
const WINDOW_LOOPS = benchInt('relay', { name: 'BENCH_RELAY_WINDOW_LOOPS', fallback: 1, min: 1, max: 15 });
const SETTLE_MS = 3_000; // after the switch: connects and status writes done
/** Per destination (ffmpeg + worker) at most this share of the ladder's CPU. */
const TARGET = 0.05;

interface Destination {
  id: string;
  name: string;
  enabled: boolean;
  status: string;
  bytesSent: number;
  lastError: string | null;
}

async function destinations(app: Appliance, streamId: string): Promise<Destination[]> {
  return (await api<{ items: Destination[] }>(app, 'GET', `/streams/${streamId}/destinations?limit=50`)).items;
}

/** Enables the first n destinations, disables the rest, and waits until the API shows just that. */
async function switchTo(app: Appliance, streamId: string, all: Destination[], n: number): Promise<void> {
  const now = await destinations(app, streamId);
  for (const [i, d] of all.entries()) {
    const want = i < n;
    if (now.find((x) => x.id === d.id)?.enabled !== want) await api(app, 'PATCH', `/streams/${streamId}/destinations/${d.id}`, { enabled: want });
  }
  let last: Destination[] = [];
  await waitFor(
    async () => {
      last = await destinations(app, streamId);
      return all.every((d, i) => last.find((x) => x.id === d.id)?.status === (i < n ? 'live' : 'idle'));
    },
    { what: `${n} destination(s) live and the rest idle`, timeoutMs: 40_000, intervalMs: 500 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; now: ${last.map((d) => `${d.name} ${d.status}${d.lastError ? ` (${d.lastError})` : ''}`).join(', ')}`);
  });
}

async function measure(o: { app: Appliance; streamId: string; n: number; ffmpegPid: number; nginxPid: number; windowSeconds: number }): Promise<Window> {
  const workerPid = o.app.worker.process.pid!;
  const read = async () => ({
    at: performance.now(),
    ffmpeg: await processCpuSeconds(o.ffmpegPid),
    worker: await processCpuSeconds(workerPid),
    nginx: await processTreeCpuSeconds(o.nginxPid),
    machine: (await machineCpu()).busySeconds,
    sent: await workerCounter(o.app, 'onair_relay_sent_bytes_total'),
    rows: await destinations(o.app, o.streamId),
  });
  const a = await read();
  await sleep(o.windowSeconds * 1000);
  const b = await read();
  if (a.ffmpeg === null || b.ffmpeg === null || (await ffmpegOf(workerPid)) !== o.ffmpegPid) throw new Error('the worker’s ffmpeg restarted during the window: see the worker log');
  const wall = (b.at - a.at) / 1000;
  const cores = (x: number | null, y: number | null) => Math.max(0, (y ?? 0) - (x ?? 0)) / wall;
  const w = { ffmpeg: cores(a.ffmpeg, b.ffmpeg), worker: cores(a.worker, b.worker), nginx: cores(a.nginx, b.nginx) };
  const enabled = b.rows.filter((d) => d.enabled);
  return {
    n: o.n,
    ...w,
    other: Math.max(0, cores(a.machine, b.machine) - w.ffmpeg - w.worker - w.nginx),
    relayedMbps: ((b.sent - a.sent) * 8) / wall / 1e6,
    // rows are written every ~5 s: over a 20 s window this is the rate to within a quarter
    perDestinationMbps: enabled.map((d) => ((d.bytesSent - (a.rows.find((x) => x.id === d.id)?.bytesSent ?? 0)) * 8) / wall / 1e6),
  };
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const busyCpusBefore = await checkIdle();
  const source = await ensureSource({ seconds: SOURCE_SECONDS, ...OBS_LIKE_1080P });
  const windowSeconds = round((await probeDuration(source)) * WINDOW_LOOPS, 3);
  const { work, keep } = await benchWorkDir('relay');
  say(`bench:relay on ${machine.nproc} × ${machine.cpuModel}: one 1080p30 source (${path.basename(source)}, looped, -re -c copy) relayed to ${CONFIGS.join(', ')} nginx-rtmp destinations; windows of ${windowSeconds} s (${WINDOW_LOOPS} loop(s) of the source) in the order ${ORDER.join(' ')}.`);
  const nginx = await startDestinationServer(work);
  const app = await startAppliance(work);

  const stream = await api<{ id: string; streamKey: string }>(app, 'POST', '/streams', { title: 'Bench relay' });
  const all: Destination[] = [];
  for (let i = 1; i <= Math.max(...CONFIGS); i++) {
    all.push(await api<Destination>(app, 'POST', `/streams/${stream.id}/destinations`, { name: `Bench ${i}`, url: `rtmp://127.0.0.1:${nginx.port}/live`, streamKey: `bench-${i}-${Math.random().toString(36).slice(2, 10)}`, enabled: false }));
  }
  const publisher = startChild('publisher', 'ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', source, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${app.rtmpPort}/live/${stream.streamKey}`]);
  onCleanup(() => stopChild(publisher, 'SIGINT', 5_000));
  const ffmpegPid = await waitFor(
    async () => {
      if (publisher.process.exitCode !== null) throw new Error(`the publisher exited: ${publisher.stderrTail()}`);
      const s = await api<{ status: string }>(app, 'GET', `/streams/${stream.id}`);
      return s.status === 'live' ? ffmpegOf(app.worker.process.pid!) : null;
    },
    { what: 'the stream live and the worker’s ffmpeg running', timeoutMs: 60_000, intervalMs: 500 },
  );
  say(`Stream live; the worker’s ffmpeg is pid ${ffmpegPid}. ${all.length} destinations added (disabled), on nginx-rtmp port ${nginx.port}.`);

  const windows: Window[] = [];
  for (const n of ORDER) {
    if (isEnding()) return;
    await switchTo(app, stream.id, all, n);
    await sleep(SETTLE_MS);
    const w = await measure({ app, streamId: stream.id, n, ffmpegPid, nginxPid: nginx.pid, windowSeconds });
    windows.push(w);
    const slow = w.perDestinationMbps.filter((r) => r < 2);
    say(`  ${String(n).padStart(2)} destination(s): ffmpeg ${w.ffmpeg.toFixed(3)}, worker ${w.worker.toFixed(3)}, nginx ${w.nginx.toFixed(3)} cores; relayed ${w.relayedMbps.toFixed(1)} Mb/s${n ? ` (${(w.relayedMbps / n).toFixed(2)} each)` : ''}; other load ${w.other.toFixed(2)} cores`);
    if (slow.length) throw new Error(`${slow.length} destination(s) got under 2 Mb/s of a 4.5 Mb/s source in the window: the relay fell behind`);
    if (n === 0 && w.relayedMbps > 0) throw new Error('bytes were relayed with every destination disabled');
    const rowsMbps = w.perDestinationMbps.reduce((a, b) => a + b, 0);
    if (n > 0 && Math.abs(w.relayedMbps - rowsMbps) > 0.35 * rowsMbps) throw new Error(`the worker's onair_relay_sent_bytes_total (${w.relayedMbps.toFixed(1)} Mb/s) disagrees with the destinations' rows (${rowsMbps.toFixed(1)} Mb/s)`);
  }
  await switchTo(app, stream.id, all, 0);

  const { ladderCores: ladder, rows, repeatSpreadCores } = summarize(windows, CONFIGS);
  const spread = repeatSpreadCores ?? 0;
  const headline = rows.find((r) => r.destinations === 10)!;
  const met = headline.perDestinationBoundOfLadder! <= TARGET;
  const noisy = windows.some((w) => w.other > 0.2);
  const file = await writeResult('relay', {
    date: new Date().toISOString(),
    machine: { ...machine, busyCpusBefore },
    source: { file: path.basename(source), ...OBS_LIKE_1080P, published: 'ffmpeg -re -stream_loop -1 -c copy over RTMP to the ingest' },
    method: 'CPU user+system from /proc over each window; configurations switched live through the API (enabled/disabled) in the order ' + ORDER.join(' ') + '; per destination = (CPU(n) − CPU(0)) / n of the worker’s ffmpeg + Node process; the ladder = the ffmpeg at 0 destinations',
    windowSeconds,
    windows: windows.map((w) => ({ ...w, ffmpeg: round(w.ffmpeg, 4), worker: round(w.worker, 4), nginx: round(w.nginx, 4), other: round(w.other, 3), relayedMbps: round(w.relayedMbps, 2), perDestinationMbps: w.perDestinationMbps.map((x) => round(x, 2)) })),
    ladderCores: ladder,
    repeatSpreadCores,
    configurations: rows,
    target: `per destination <= ${TARGET * 100} % of the ladder's CPU (at 10 destinations; the worker's and ffmpeg's parts each counted at least 0)`,
    met,
    noisy,
  });

  const f = (x: number | null, d = 3) => (x === null ? '—' : x.toFixed(d));
  const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)} %`);
  const cols: [string, number, (r: (typeof rows)[number]) => string][] = [
    ['dest', 4, (r) => String(r.destinations)],
    ['ffmpeg', 7, (r) => f(r.ffmpegCores)],
    ['worker', 7, (r) => f(r.workerCores)],
    ['ours', 7, (r) => f(r.oursCores)],
    ['per dest', 9, (r) => f(r.perDestinationCores, 4)],
    ['×ladder', 8, (r) => pct(r.perDestinationOfLadder)],
    ['(worker', 8, (r) => f(r.perDestinationWorkerCores, 4)],
    ['ffmpeg)', 8, (r) => f(r.perDestinationFfmpegCores, 4)],
    ['bound', 7, (r) => f(r.perDestinationBoundCores, 4)],
    ['×ladder', 8, (r) => pct(r.perDestinationBoundOfLadder)],
    ['nginx', 6, (r) => f(r.nginxCores)],
    ['Mb/s out', 8, (r) => r.relayedMbps.toFixed(1)],
  ];
  say('');
  say(`  ${cols.map(([h, width]) => h.padStart(width)).join(' ')}   cores; mean of ${ORDER.length / CONFIGS.length} windows each`);
  for (const r of rows) say(`  ${cols.map(([, width, v]) => v(r).padStart(width)).join(' ')}`);
  say(`  ours = the worker's ffmpeg (the ladder + the relay's copy output) + its Node process (the publishers); per dest = (ours(n) − ours(0)) / n, split into the worker's and ffmpeg's parts;`);
  say(`  bound = those parts each counted at least 0 (the verdict's figure); nginx = the destinations (the load generator's side, not ours).`);
  say(`  noise: the two windows of one configuration differ by ${spread.toFixed(3)} cores on average, i.e. ±${((spread / 10 / ladder) * 100).toFixed(1)} % of the ladder per destination at 10 (±${((spread / ladder) * 100).toFixed(1)} % at 1); ffmpeg's work does not depend on the number of destinations.`);
  say(`  results: ${file}`);
  say('');
  say(
    `bench:relay per destination ${headline.perDestinationBoundCores!.toFixed(4)} cores = ${pct(headline.perDestinationBoundOfLadder)} of the ladder's ${ladder.toFixed(3)} cores ` +
      `(10 destinations, ${headline.relayedMbps.toFixed(1)} Mb/s out; worker ${f(headline.perDestinationWorkerCores, 4)}, ffmpeg ${f(headline.perDestinationFfmpegCores, 4)} per destination; target ≤ ${TARGET * 100} %): ${met ? 'PASS' : 'FAIL'}${noisy ? ' (other load during the run: noisy)' : ''}`,
  );
  keep(false);
}

runBench('bench:relay', main, 9 * 60_000);
