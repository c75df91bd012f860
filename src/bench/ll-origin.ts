// bench:llorigin: the LL-HLS playlist origin under load, through nginx. A synthetic feed (ll-feed.ts)
// writes a part every 200 ms for four rungs (2 s segments) and publishes each on the bus; N
// simulated hls.js-style viewers (BENCH_CLIENTS, default 200, in BENCH_CLIENT_PROCS child
// processes, default 4: ll-clients.ts), each on its own token URL of one rung, loop for
// BENCH_SECONDS (default 60): a blocking playlist request for the next part (`_HLS_msn`/`_HLS_part`,
// as hls.js asks with CAN-BLOCK-RELOAD), then the newest part it names. Reported: errors (any answer
// but 200), the p50/p99/max from a part's file being written to the held playlist request that
// waited for it being answered through nginx (target p99 ≤ 20 ms; absolute times, one machine's
// clock), requests per second, the CPU of the origin process and of nginx (master + workers) over
// the measured window, and the origin's bus-lag histogram (publish → origin).
//
// Setup: an embedded Redis, the origin role (node dist/bin/origin.js, NODE_ENV=production), the
// shipped nginx configuration with playback tokens on (token check, gate lookup and a viewer line
// per request, as for real viewers). The feed runs in this process, the viewers in children.
import { randomUUID } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { prepareNginx } from '../local/nginx-config.js';
import { freePort, isRoot } from '../local/processes.js';
import { startRedis } from '../local/services.js';
import { silentLog } from '../log.js';
import { createBus } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { waitFor } from '../testing/harness.js';
import { APP_ROOT } from '../paths.js';
import { benchInt, benchWorkDir, machineInfo, onCleanup, processCpuSeconds, processTreeCpuSeconds, round, runBench, say, sleep, startChild, startIpcChild, startNodeBin, writeResult } from './common.js';
import { absNow, type ClientResult, type ClientRun } from './ll-clients.js';
import { startSyntheticFeed } from './ll-feed.js';

const CLIENTS = benchInt('llorigin', { name: 'BENCH_CLIENTS', fallback: 200, min: 1, max: 5000 });
const SECONDS = benchInt('llorigin', { name: 'BENCH_SECONDS', fallback: 60, min: 5, max: 3600 });
const CLIENT_PROCS = benchInt('llorigin', { name: 'BENCH_CLIENT_PROCS', fallback: 4, min: 1, max: 64 });
const WARMUP_S = 5;
const RUNGS = [{ name: '1080p', kbps: 6000 }, { name: '720p', kbps: 3000 }, { name: '480p', kbps: 1500 }, { name: '360p', kbps: 800 }];
const SECRET = 'B'.repeat(40);

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

runBench('bench:llorigin', async () => {
  const { work, keep } = await benchWorkDir('llorigin');
  const dataDir = path.join(work, 'data');
  const mediaDir = path.join(dataDir, 'media');
  const logDir = path.join(dataDir, 'logs');
  // nginx's workers (www-data when we are root) must reach the media dir: no 0700 parent on the way
  await mkdir(mediaDir, { recursive: true, mode: 0o755 });
  await chmod(dataDir, 0o755);
  const redisSvc = await startRedis({ dir: path.join(dataDir, 'redis'), password: randomUUID(), logDir, onConsole: () => undefined });
  onCleanup(() => redisSvc.process.stop());
  const prefix = 'bench';
  const originPort = await freePort();
  const metricsKey = randomUUID();
  const origin = startNodeBin('origin', 'origin', { PATH: process.env.PATH, NODE_ENV: 'production', REDIS_URL: redisSvc.url, REDIS_PREFIX: prefix, ORIGIN_PORT: String(originPort), DATA_DIR: dataDir, LOG_LEVEL: 'warn', INTERNAL_API_KEY: metricsKey }, path.join(logDir, 'origin.log'));
  await waitFor(() => fetch(`http://127.0.0.1:${originPort}/healthz`).then((r) => r.ok, () => false), { what: 'the origin' });
  const httpPort = await freePort();
  const nginx = prepareNginx({ dataDir, logDir, httpPort, mediaDir, recordingsDir: path.join(dataDir, 'recordings'), uploadsDir: path.join(dataDir, 'uploads'), apiUpstreams: [`127.0.0.1:${await freePort()}`], originUpstreams: [`127.0.0.1:${originPort}`], runAsRoot: isRoot(), playbackSecret: SECRET });
  const ngx = startChild('nginx', nginx.command, nginx.args);
  onCleanup(async () => void ngx.process.kill('SIGQUIT'));
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(() => fetch(`${base}/`, { redirect: 'manual' }).then((r) => r.status === 302, () => false), { what: 'nginx' });

  const redis = createRedis({ url: redisSvc.url, log: silentLog(), purpose: 'bench' });
  const sub = createRedis({ url: redisSvc.url, log: silentLog(), purpose: 'bench-sub' });
  onCleanup(async () => void (redis.disconnect(), sub.disconnect()));
  const playbackId = 'benchllorigin0000000';
  const feed = startSyntheticFeed({ mediaDir, playbackId, renditions: RUNGS, bus: createBus({ pub: redis, sub, prefix, log: silentLog() }), redis, prefix });
  onCleanup(async () => feed.stop());
  await sleep(1_000);

  const procs = Math.min(CLIENT_PROCS, CLIENTS);
  say(`${CLIENTS} clients in ${procs} processes, ${SECONDS} s (after ${WARMUP_S} s warm-up), 4 rungs, 200 ms parts, through nginx with playback tokens …`);
  const measureFrom = absNow() + WARMUP_S * 1000;
  const until = measureFrom + SECONDS * 1000;
  const perProc = Math.ceil(CLIENTS / procs);
  const runs = Array.from({ length: procs }, (_, k) => {
    const child = startIpcChild<ClientRun>(`clients-${k}`, process.execPath, [path.join(APP_ROOT, 'dist', 'bench', 'll-clients.js')]);
    const from = k * perProc;
    return child.ask<ClientResult>({ base, playbackId, secret: SECRET, rungs: RUNGS.map((r) => r.name), from, count: Math.max(0, Math.min(perProc, CLIENTS - from)), measureFrom, until });
  });
  await sleep(measureFrom - absNow());
  const cpu0 = { origin: await processCpuSeconds(origin.process.pid!), nginx: await processTreeCpuSeconds(ngx.process.pid!) };
  const t0 = absNow();
  await sleep(until - absNow());
  const wall = (absNow() - t0) / 1000;
  const cpu1 = { origin: await processCpuSeconds(origin.process.pid!), nginx: await processTreeCpuSeconds(ngx.process.pid!) };
  const results = await Promise.all(runs);
  const counts = { playlists: 0, parts: 0, errors: 0, byStatus: {} as Record<string, number> };
  const latencies: number[] = [];
  for (const r of results) {
    counts.playlists += r.playlists;
    counts.parts += r.parts;
    for (const [k, n] of Object.entries(r.errors)) {
      counts.errors += n;
      counts.byStatus[k] = (counts.byStatus[k] ?? 0) + n;
    }
    for (const [rung, msn, part, at] of r.samples) {
      const written = feed.writtenAt(RUNGS[rung]!.name, msn, part);
      if (written !== undefined) latencies.push(at - (performance.timeOrigin + written));
    }
  }
  // how much of it is the bus: the origin's histogram of publish → taken in (cumulative buckets, whole run)
  const scrape = await (await fetch(`http://127.0.0.1:${originPort}/metrics`, { headers: { authorization: `Bearer ${metricsKey}` } })).text();
  const lagBuckets = Object.fromEntries([...scrape.matchAll(/^onair_llhls_message_lag_seconds_bucket\{le="([^"]+)"[^}]*\} (\d+)$/gm)].map((m) => [`≤${m[1]} s`, Number(m[2])]));
  const sorted = [...latencies].sort((a, b) => a - b);
  const cores = (a: number | null, b: number | null) => (a === null || b === null ? null : round((b - a) / wall, 3));
  const result = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    clients: CLIENTS,
    seconds: round(wall, 1),
    errors: counts.errors,
    errorsByKind: counts.byStatus,
    playlistsPerSecond: round(counts.playlists / wall, 1),
    partsPerSecond: round(counts.parts / wall, 1),
    heldAnswers: sorted.length,
    partWrittenToPlaylistMs: { p50: round(percentile(sorted, 50) ?? NaN, 2), p99: round(percentile(sorted, 99) ?? NaN, 2), max: round(sorted.at(-1) ?? NaN, 2) },
    cpuCores: { origin: cores(cpu0.origin, cpu1.origin), nginx: cores(cpu0.nginx, cpu1.nginx) },
    feed: feed.stats(),
    busLagBuckets: lagBuckets,
  };
  say(JSON.stringify(result, null, 2));
  const verdict = result.errors === 0 && (result.partWrittenToPlaylistMs.p99 ?? Infinity) <= 20;
  say(`bench:llorigin: ${verdict ? 'PASS' : 'FAIL'} (targets: 0 errors, p99 part written → playlist answered ≤ 20 ms)`);
  say(`Result written to ${await writeResult('llorigin', result)}`);
  keep(!verdict);
}, 10 * 60_000);
