// bench:latency: time from a publisher's first byte to "playable" HLS, the real appliance
// (node dist/bin/all.js: ingest → BullMQ → ffmpeg ladder → nginx) against nginx-rtmp's HLS
// module (Debian's libnginx-mod-rtmp, repackaging only), same file, same run, alternating.
import { nginxRtmpPreamble, RTMP_MODULE } from '../testing/nginx-rtmp.js';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort, isRoot } from '../local/processes.js';
import { APP_ROOT } from '../paths.js';
import {
  CACHE_DIR,
  OBS_LIKE_1080P,
  checkIdle,
  ensureSource,
  isEnding,
  machineInfo,
  median,
  onCleanup,
  round,
  runBench,
  say,
  sleep,
  startChild,
  stopChild,
  writeResult,
  type Child,
} from './common.js';

const SOURCE_SECONDS = 40;
const ROUNDS = 3;
const TARGET_RATIO = 1.3;
const POLL_MS = 100;
const ROUND_TIMEOUT_MS = 60_000;
const STARTUP_TIMEOUT_MS = 180_000; // first start runs initdb
const SETTLE_TIMEOUT_MS = 30_000;
const SETTLE_PAUSE_MS = 2_000; // let the CPU go idle between rounds
const BENCH_DEADLINE_MS = 20 * 60_000;
const ADMIN_EMAIL = 'bench@onair.local';

type Side = 'ours' | 'peer';

interface RoundResult {
  round: number;
  side: Side;
  seconds: number | null; // first byte → playable
  fromSpawnSeconds: number | null; // publisher spawned → playable
  milestones?: Record<string, number>; // ours: when each rendition playlist first listed a segment
  error?: string;
}

// ---- HTTP ------------------------------------------------------------------------------------

async function getText(url: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, text: await res.text() };
}

async function api<T>(base: string, method: string, route: string, token: string | null, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const { status, text } = await getText(`${base}/api${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (status < 200 || status >= 300) throw new Error(`${method} /api${route} answered ${status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
}

// ---- "playable" ------------------------------------------------------------------------------

/** URIs of a playlist (variants of a master, or segments of a media playlist), resolved. */
function playlistUris(text: string, base: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => new URL(l, base).href);
}

async function answers200(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer(); // a player downloads the segment whole
  return res.status === 200;
}

/** A media playlist is playable when it lists a segment (#EXTINF) that can be fetched. */
async function mediaPlayable(url: string): Promise<boolean> {
  const { status, text } = await getText(url);
  if (status !== 200 || !text.includes('#EXTINF')) return false;
  for (const seg of playlistUris(text, url)) if (await answers200(seg)) return true;
  return false;
}

/** A master is playable when every variant it lists is; a media playlist stands for itself. */
async function playable(url: string, requireMaster: boolean): Promise<boolean> {
  const { status, text } = await getText(url);
  if (status !== 200) return false;
  if (!text.includes('#EXT-X-STREAM-INF')) return !requireMaster && mediaPlayable(url);
  const variants = playlistUris(text, url);
  if (variants.length === 0) return false;
  const ok = await Promise.all(variants.map((v) => mediaPlayable(v).catch(() => false)));
  return ok.every(Boolean);
}

// ---- the publisher and its first byte --------------------------------------------------------

interface Relay {
  port: number;
  firstByteAt(): number | null;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of the RTMP server: it records when the publisher's first byte (the
 * RTMP handshake) arrives, which is the exact t0; the relay hop costs both sides the same.
 */
function startRelay(targetPort: number): Promise<Relay> {
  let firstByte: number | null = null;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    inbound.once('data', () => (firstByte ??= performance.now()));
    const outbound = net.connect(targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => undefined); // the peer's close is the end of the round, not a failure
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    inbound.once('close', () => outbound.destroy());
    outbound.once('close', () => inbound.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        firstByteAt: () => firstByte,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

function startPublisher(file: string, url: string): Child {
  // -c copy: publishing costs no CPU, so it does not steal from the transcoder under test
  return startChild('publisher', 'ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-i', file, '-c', 'copy', '-f', 'flv', url]);
}

interface RoundSpec {
  side: Side;
  round: number;
  file: string;
  rtmpPort: number;
  streamKey: string;
  playUrl: string;
  requireMaster: boolean;
  watch?: Record<string, string>; // name → media playlist URL, for milestones
}

/** Publishes until the stream is playable (or the round times out), then stops the publisher. */
async function measureRound(spec: RoundSpec): Promise<RoundResult> {
  const relay = await startRelay(spec.rtmpPort);
  const milestones: Record<string, number> = {};
  const spawnedAt = performance.now(); // t0 fallback: just before spawning the publisher
  const publisher = startPublisher(spec.file, `rtmp://127.0.0.1:${relay.port}/live/${spec.streamKey}`);
  let publisherDone = false;
  void publisher.exited.then(() => (publisherDone = true));
  const result: RoundResult = { round: spec.round, side: spec.side, seconds: null, fromSpawnSeconds: null };
  try {
    const deadline = spawnedAt + ROUND_TIMEOUT_MS;
    while (performance.now() < deadline) {
      const tick = performance.now();
      await watchMilestones(spec.watch ?? {}, milestones);
      if (await playable(spec.playUrl, spec.requireMaster).catch(() => false)) {
        const now = performance.now();
        const t0 = relay.firstByteAt() ?? spawnedAt;
        result.seconds = round((now - t0) / 1000, 3);
        result.fromSpawnSeconds = round((now - spawnedAt) / 1000, 3);
        break;
      }
      if (publisherDone) {
        result.error = `the publisher exited before the stream was playable: ${publisher.stderrTail() || 'no output'}`;
        break;
      }
      await sleep(Math.max(0, POLL_MS - (performance.now() - tick)));
    }
    if (result.seconds === null && !result.error) result.error = `not playable within ${ROUND_TIMEOUT_MS / 1000} s`;
    const t0 = relay.firstByteAt() ?? spawnedAt;
    if (spec.watch) result.milestones = Object.fromEntries(Object.entries(milestones).map(([k, at]) => [k, round((at - t0) / 1000, 3)]));
    return result;
  } finally {
    await stopChild(publisher, 'SIGINT', 3_000);
    await relay.close();
  }
}

async function watchMilestones(watch: Record<string, string>, seen: Record<string, number>): Promise<void> {
  await Promise.all(
    Object.entries(watch)
      .filter(([name]) => seen[name] === undefined)
      .map(async ([name, url]) => {
        const { status, text } = await getText(url).catch(() => ({ status: 0, text: '' }));
        if (status === 200 && text.includes('#EXTINF')) seen[name] = performance.now();
      }),
  );
}

// ---- ours: the real appliance ----------------------------------------------------------------

interface Appliance {
  base: string;
  rtmpPort: number;
  token: string;
  child: Child;
  dataDir: string;
}

async function distinctPorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

async function startAppliance(work: string): Promise<Appliance> {
  const [httpPort, rtmpPort, apiPort] = (await distinctPorts(3)) as [number, number, number];
  const dataDir = path.join(work, 'appliance');
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  const password = randomBytes(12).toString('base64url');
  const logFile = path.join(work, 'appliance.out');
  const out = openSync(logFile, 'a');
  const child = startChild('appliance', process.execPath, [path.join(APP_ROOT, 'dist', 'bin', 'all.js')], {
    cwd: APP_ROOT,
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      HTTP_PORT: String(httpPort),
      RTMP_PORT: String(rtmpPort),
      PORT: String(apiPort),
      ADMIN_EMAIL,
      ADMIN_PASSWORD: password,
      LOG_LEVEL: 'warn',
    },
  });
  closeSync(out);
  // SIGINT is the appliance's own orderly stop: it stops its Postgres, Redis and nginx itself
  onCleanup(() => stopChild(child, 'SIGINT', 60_000));
  const base = `http://127.0.0.1:${httpPort}`;
  say(`Starting the appliance (ports http ${httpPort}, rtmp ${rtmpPort}, api ${apiPort}; output in ${logFile}) …`);
  try {
    await waitFor('the appliance health check', STARTUP_TIMEOUT_MS, async () => {
      if (child.process.exitCode !== null) throw new Error('exited');
      return (await getText(`${base}/api/health`)).status === 200;
    });
  } catch (err) {
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).slice(-2000);
    throw new Error(`${(err as Error).message}; appliance output:\n${tail}`);
  }
  const { token } = await api<{ token: string }>(base, 'POST', '/auth/login', null, { email: ADMIN_EMAIL, password });
  return { base, rtmpPort, token, child, dataDir };
}

interface BenchStream {
  id: string;
  streamKey: string;
  playbackId: string;
}

async function createStream(app: Appliance, title: string): Promise<BenchStream> {
  return api<BenchStream>(app.base, 'POST', '/streams', app.token, { title });
}

/** The next round starts only when this one's publish ended and its transcoder finished. */
async function waitOursSettled(app: Appliance, stream: BenchStream, renditions: string[]): Promise<void> {
  await waitFor('the stream going offline', SETTLE_TIMEOUT_MS, async () => {
    const s = await api<{ status: string }>(app.base, 'GET', `/streams/${stream.id}`, app.token);
    return s.status === 'offline';
  });
  // offline is set when the publisher leaves; ENDLIST is written when ffmpeg has finished
  await waitFor('the transcoder finishing its playlists', SETTLE_TIMEOUT_MS, async () => {
    const ends = await Promise.all(
      renditions.map(async (n) => (await getText(`${app.base}/hls/${stream.playbackId}/${n}/index.m3u8`)).text.includes('#EXT-X-ENDLIST')),
    );
    return ends.every(Boolean);
  });
}

// ---- peer: nginx-rtmp ------------------------------------------------------------------------

interface Peer {
  httpPort: number;
  rtmpPort: number;
  child: Child;
}

/** nginx.conf for the peer (pure). Paths land unquoted, so they are checked by the caller. */
function peerConfig(o: { dir: string; rtmpPort: number; httpPort: number; user: string | null }): string {
  return `${nginxRtmpPreamble({ dir: o.dir, user: o.user })}
rtmp {
  server {
    listen 127.0.0.1:${o.rtmpPort};
    chunk_size 4096;
    application live {
      live on;
      record off;
      hls on;
      hls_path ${o.dir}/hls;
      hls_fragment 2s;
      hls_playlist_length 12s;
    }
  }
}

http {
  access_log off;
  client_body_temp_path ${o.dir}/client_body;
  proxy_temp_path ${o.dir}/proxy;
  fastcgi_temp_path ${o.dir}/fastcgi;
  uwsgi_temp_path ${o.dir}/uwsgi;
  scgi_temp_path ${o.dir}/scgi;
  sendfile on;
  tcp_nodelay on;
  types {
    application/vnd.apple.mpegurl m3u8;
    video/mp2t ts;
  }
  server {
    listen 127.0.0.1:${o.httpPort};
    location /hls/ {
      alias ${o.dir}/hls/;
      add_header Cache-Control no-cache;
    }
  }
}
`;
}

async function startPeer(work: string): Promise<Peer> {
  if (!existsSync(RTMP_MODULE)) throw new Error(`${RTMP_MODULE} is missing: run "npm run bench:latency" (it installs libnginx-mod-rtmp) or apt-get install libnginx-mod-rtmp.`);
  const dir = path.join(work, 'nginx-rtmp');
  if (!/^\/[A-Za-z0-9_./-]*$/.test(dir)) throw new Error(`${dir} holds characters nginx would misread; set TMPDIR to a plain path.`);
  await mkdir(path.join(dir, 'hls'), { recursive: true, mode: 0o755 });
  // the directories above our temp dir may be 0700 (mkdtemp); nginx workers must traverse them
  for (const d of [work, dir, path.join(dir, 'hls')]) chmodSync(d, 0o755);
  const [rtmpPort, httpPort] = (await distinctPorts(2)) as [number, number];
  const conf = path.join(dir, 'nginx.conf');
  // nginx-rtmp writes segments from its worker, so the worker needs write access to hls_path:
  // as root it stays root (a bench on 127.0.0.1) rather than chowning the dir to www-data
  await writeFile(conf, peerConfig({ dir, rtmpPort, httpPort, user: isRoot() ? 'root' : null }));
  const child = startChild('nginx-rtmp', 'nginx', ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')]);
  onCleanup(() => stopChild(child, 'SIGQUIT', 10_000));
  say(`Starting nginx-rtmp (ports http ${httpPort}, rtmp ${rtmpPort}) …`);
  await waitFor('nginx-rtmp listening', 15_000, async () => {
    if (child.process.exitCode !== null) throw new Error(`nginx exited: ${child.stderrTail()}`);
    const rtmp = await new Promise<boolean>((r) => {
      const s = net.connect(rtmpPort, '127.0.0.1', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    return rtmp && (await getText(`http://127.0.0.1:${httpPort}/hls/`).then(() => true, () => false));
  }).catch(async (err) => {
    const log = await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
    throw new Error(`${(err as Error).message}\n${child.stderrTail()}\n${log.slice(-1500)}`);
  });
  return { httpPort, rtmpPort, child };
}

// ---- the bench -------------------------------------------------------------------------------

const OUR_RENDITIONS = ['1080p', '720p', '480p', '360p']; // the default profile on a 1080p source

async function oursRound(app: Appliance, file: string, n: number): Promise<RoundResult> {
  const stream = await createStream(app, `bench latency round ${n}`);
  const hls = `${app.base}/hls/${stream.playbackId}`;
  const result = await measureRound({
    side: 'ours',
    round: n,
    file,
    rtmpPort: app.rtmpPort,
    streamKey: stream.streamKey,
    playUrl: `${hls}/master.m3u8`,
    requireMaster: true,
    watch: Object.fromEntries(OUR_RENDITIONS.map((r) => [r, `${hls}/${r}/index.m3u8`])),
  });
  await waitOursSettled(app, stream, OUR_RENDITIONS).catch((err: Error) => say(`  (round ${n}: ${err.message}; continuing)`));
  return result;
}

async function peerRound(peer: Peer, file: string, n: number): Promise<RoundResult> {
  const key = `bench${n}${randomBytes(4).toString('hex')}`;
  return measureRound({
    side: 'peer',
    round: n,
    file,
    rtmpPort: peer.rtmpPort,
    streamKey: key,
    playUrl: `http://127.0.0.1:${peer.httpPort}/hls/${key}.m3u8`,
    requireMaster: false,
  });
}

function describe(r: RoundResult): string {
  const head = `  round ${r.round} ${r.side === 'ours' ? 'ours      ' : 'nginx-rtmp'}`;
  if (r.seconds === null) return `${head} FAILED: ${r.error}`;
  const ms = r.milestones && Object.keys(r.milestones).length
    ? `  [first segment listed: ${Object.entries(r.milestones).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ')}]`
    : '';
  return `${head} ${r.seconds.toFixed(2)} s  (from spawn ${r.fromSpawnSeconds!.toFixed(2)} s)${ms}`;
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const busyCpusBefore = await checkIdle();
  const file = await ensureSource({ seconds: SOURCE_SECONDS, ...OBS_LIKE_1080P });
  await mkdir(CACHE_DIR, { recursive: true, mode: 0o755 });
  const work = await mkdtemp(path.join(CACHE_DIR, 'latency-'));
  chmodSync(work, 0o755);
  let keepWork = false;
  onCleanup(async () => {
    if (keepWork) say(`Kept ${work} (appliance logs in ${path.join(work, 'appliance', 'logs')}).`);
    else await rm(work, { recursive: true, force: true });
  });

  say(`bench:latency on ${machine.nproc} × ${machine.cpuModel}; source ${path.basename(file)}, published with -re -c copy`);
  const app = await startAppliance(work);
  const peer = await startPeer(work);

  const rounds: RoundResult[] = [];
  for (let n = 1; n <= ROUNDS && !isEnding(); n++) {
    for (const side of ['ours', 'peer'] as const) {
      if (isEnding()) break;
      const r = side === 'ours' ? await oursRound(app, file, n) : await peerRound(peer, file, n);
      if (isEnding()) break; // a round cut short by Ctrl-C is not a measurement
      rounds.push(r);
      say(describe(r));
      await sleep(SETTLE_PAUSE_MS);
    }
  }

  const secs = (side: Side, key: 'seconds' | 'fromSpawnSeconds') =>
    rounds.filter((r) => r.side === side && r[key] !== null).map((r) => r[key]!);
  const medians = {
    ours: median(secs('ours', 'seconds')),
    peer: median(secs('peer', 'seconds')),
    oursFromSpawn: median(secs('ours', 'fromSpawnSeconds')),
    peerFromSpawn: median(secs('peer', 'fromSpawnSeconds')),
  };
  const ratio = medians.ours !== null && medians.peer !== null ? round(medians.ours / medians.peer, 3) : null;
  const met = ratio !== null && ratio <= TARGET_RATIO;
  const failed = rounds.filter((r) => r.seconds === null).length;
  keepWork = failed > 0;
  const out = await writeResult('latency', {
    date: new Date().toISOString(),
    machine: { ...machine, busyCpusBefore },
    source: { file: path.basename(file), seconds: SOURCE_SECONDS, ...OBS_LIKE_1080P },
    method: 't0 = first byte of the publisher at a TCP relay in front of the RTMP port (fromSpawn: just before spawning it); playable = master (ours) and every variant lists a segment that answers 200; polled every 100 ms',
    peer: 'nginx-rtmp (libnginx-mod-rtmp), hls_fragment 2s, hls_playlist_length 12s',
    rounds,
    medians,
    ratio,
    target: `<= ${TARGET_RATIO}`,
    met,
  });

  say('');
  say(`  medians: ours ${medians.ours?.toFixed(2) ?? '—'} s, nginx-rtmp ${medians.peer?.toFixed(2) ?? '—'} s (from spawn: ${medians.oursFromSpawn?.toFixed(2) ?? '—'} s vs ${medians.peerFromSpawn?.toFixed(2) ?? '—'} s)${failed ? `; ${failed} round(s) failed` : ''}`);
  say(`  results: ${out}`);
  say('');
  say(
    `bench:latency ours ${medians.ours?.toFixed(2) ?? '—'} s, nginx-rtmp ${medians.peer?.toFixed(2) ?? '—'} s, ratio ${ratio?.toFixed(2) ?? '—'} (target ≤ ${TARGET_RATIO}): ${met ? 'met' : 'NOT met'}`,
  );
}

runBench('bench:latency', main, BENCH_DEADLINE_MS);
