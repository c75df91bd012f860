// bench:llorigin: the LL-HLS playlist origin under load, through nginx. A synthetic feed (ll-feed.ts)
// writes a part every 200 ms for four rungs (2 s segments) and publishes each on the bus; N
// simulated hls.js-style viewers (BENCH_CLIENTS, default 200), each on its own token URL of one
// rung, loop for BENCH_SECONDS (default 60): a blocking playlist request for the next part
// (`_HLS_msn`/`_HLS_part`, as hls.js asks with CAN-BLOCK-RELOAD), then the newest part it names.
// Reported: errors (any answer but 200), the p50/p99/max from a part's file being written to the
// held playlist request that waited for it being answered through nginx (target p99 ≤ 20 ms;
// the feed and the clients share this process's clock), requests per second, and the CPU of the
// origin process and of nginx (master + workers) over the measured window.
//
// Setup: an embedded Redis, the origin role (node dist/bin/origin.js, NODE_ENV=production), the
// shipped nginx configuration with playback tokens on (token check, gate lookup and a viewer line
// per request, as for real viewers). The clients and the feed run in this process.
import { randomUUID } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { PREVIEW_SESSION_ID, signPlaybackToken } from '../analytics/playback.js';
import { prepareNginx } from '../local/nginx-config.js';
import { freePort, isRoot } from '../local/processes.js';
import { startRedis } from '../local/services.js';
import { silentLog } from '../log.js';
import { createBus } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { waitFor } from '../testing/harness.js';
import { benchInt, benchWorkDir, isEnding, machineInfo, onCleanup, processCpuSeconds, processTreeCpuSeconds, round, runBench, say, sleep, startChild, startNodeBin, writeResult } from './common.js';
import { startSyntheticFeed } from './ll-feed.js';

const CLIENTS = benchInt('llorigin', { name: 'BENCH_CLIENTS', fallback: 200, min: 1, max: 5000 });
const SECONDS = benchInt('llorigin', { name: 'BENCH_SECONDS', fallback: 60, min: 5, max: 3600 });
const WARMUP_S = 5;
const RUNGS = [{ name: '1080p', kbps: 6000 }, { name: '720p', kbps: 3000 }, { name: '480p', kbps: 1500 }, { name: '360p', kbps: 800 }];
const SECRET = 'B'.repeat(40);

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
function get(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** The newest part of a (gunzipped) media playlist: its segment's msn and index, and its URI. */
function newestPart(text: string): { msn: number; part: number; uri: string } | null {
  const seq = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text);
  if (!seq) return null;
  const lines = text.split('\n');
  const complete = lines.filter((l) => l.startsWith('#EXTINF:')).length;
  const lastInf = lines.map((l) => l.startsWith('#EXTINF:')).lastIndexOf(true);
  const parts = lines.slice(lastInf + 1).filter((l) => l.startsWith('#EXT-X-PART:'));
  const uri = /URI="([^"]+)"/.exec(parts.at(-1) ?? '')?.[1];
  if (!uri) return null;
  return { msn: Number(seq[1]) + complete, part: parts.length - 1, uri };
}

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
  const nginx = prepareNginx({ dataDir, logDir, httpPort, mediaDir, recordingsDir: path.join(dataDir, 'recordings'), apiUpstreams: [`127.0.0.1:${await freePort()}`], originUpstreams: [`127.0.0.1:${originPort}`], runAsRoot: isRoot(), playbackSecret: SECRET });
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

  say(`${CLIENTS} clients, ${SECONDS} s (after ${WARMUP_S} s warm-up), 4 rungs, 200 ms parts, through nginx with playback tokens …`);
  let measuring = false;
  let stop = false;
  const latencies: number[] = [];
  const counts = { playlists: 0, parts: 0, errors: 0, byStatus: {} as Record<string, number> };
  const fail = (what: string) => {
    counts.errors++;
    counts.byStatus[what] = (counts.byStatus[what] ?? 0) + 1;
  };
  const client = async (i: number) => {
    const rung = RUNGS[i % RUNGS.length]!.name;
    const token = signPlaybackToken(SECRET, { playbackId, sessionId: PREVIEW_SESSION_ID, userId: randomUUID() });
    const url = (file: string) => `${base}/hls/${playbackId}/v/${token}/${rung}/${file}`;
    await sleep(Math.random() * 1000);
    let newest: ReturnType<typeof newestPart> = null;
    while (!stop && !isEnding()) {
      const want = newest ? { msn: newest.msn, part: newest.part + 1 } : null;
      const r = await get(url(want ? `index.m3u8?_HLS_msn=${want.msn}&_HLS_part=${want.part}` : 'index.m3u8')).catch(() => null);
      const answeredAt = performance.now();
      if (!r || r.status !== 200) {
        if (measuring) fail(`playlist ${r?.status ?? 'network'}`);
        newest = null;
        await sleep(200);
        continue;
      }
      let text: string;
      try {
        text = gunzipSync(r.body).toString();
      } catch {
        text = r.body.toString();
      }
      const now = newestPart(text);
      if (!now) {
        if (measuring) fail('playlist unparsable');
        continue;
      }
      if (measuring) counts.playlists++;
      // held for exactly the part it asked for (or, past a segment's last part, the next segment's first)
      const heldFor = want && ((now.msn === want.msn && now.part === want.part) || (now.msn === want.msn + 1 && now.part === 0));
      const written = heldFor ? feed.writtenAt(rung, now.msn, now.part) : undefined;
      if (measuring && written !== undefined) latencies.push(answeredAt - written);
      newest = now;
      const p = await get(url(now.uri)).catch(() => null);
      if (!p || p.status !== 200) {
        if (measuring) fail(`part ${p?.status ?? 'network'}`);
      } else if (measuring) counts.parts++;
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
  await sleep(WARMUP_S * 1000);
  const cpu0 = { origin: await processCpuSeconds(origin.process.pid!), nginx: await processTreeCpuSeconds(ngx.process.pid!), self: process.cpuUsage() };
  const t0 = performance.now();
  measuring = true;
  await sleep(SECONDS * 1000);
  measuring = false;
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = { origin: await processCpuSeconds(origin.process.pid!), nginx: await processTreeCpuSeconds(ngx.process.pid!), self: process.cpuUsage(cpu0.self) };
  stop = true;
  await Promise.race([Promise.all(clients), sleep(8_000)]);

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
    cpuCores: { origin: cores(cpu0.origin, cpu1.origin), nginx: cores(cpu0.nginx, cpu1.nginx), benchProcess: round((cpu1.self.user + cpu1.self.system) / 1e6 / wall, 3) },
    feed: feed.stats(),
    busLagBuckets: lagBuckets,
  };
  say(JSON.stringify(result, null, 2));
  const verdict = result.errors === 0 && (result.partWrittenToPlaylistMs.p99 ?? Infinity) <= 20;
  say(`bench:llorigin: ${verdict ? 'PASS' : 'FAIL'} (targets: 0 errors, p99 part written → playlist answered ≤ 20 ms)`);
  say(`Result written to ${await writeResult('llorigin', result)}`);
  keep(!verdict);
}, 10 * 60_000);
