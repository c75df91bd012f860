// The two live sides the latency benchmarks (bench:latency, bench:glass) run against, same run:
// the real appliance (node dist/bin/all.js: ingest → BullMQ → ffmpeg ladder → nginx) and
// nginx-rtmp's HLS module (Debian's libnginx-mod-rtmp), with the HTTP helpers they share.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort, isRoot } from '../local/processes.js';
import { APP_ROOT } from '../paths.js';
import { nginxRtmpPreamble, RTMP_MODULE } from '../testing/nginx-rtmp.js';
import { onCleanup, say, sleep, startChild, stopChild, type Child } from './common.js';

const STARTUP_TIMEOUT_MS = 180_000; // first start runs initdb
const SETTLE_TIMEOUT_MS = 30_000;
const ADMIN_EMAIL = 'bench@onair.local';

// ---- HTTP ------------------------------------------------------------------------------------

export async function getText(url: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, text: await res.text() };
}

export async function api<T>(base: string, method: string, route: string, token: string | null, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const { status, text } = await getText(`${base}/api${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (status < 200 || status >= 300) throw new Error(`${method} /api${route} answered ${status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
}

// ---- ours: the real appliance ----------------------------------------------------------------

export interface Appliance {
  base: string;
  rtmpPort: number;
  token: string;
  child: Child;
  dataDir: string;
}

export async function distinctPorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

export async function startAppliance(work: string): Promise<Appliance> {
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

export interface BenchStream {
  id: string;
  streamKey: string;
  playbackId: string;
}

/** A stream through the API; `extra` goes into the request as is (e.g. `{ lowLatency: true }`). */
export async function createStream(app: Appliance, title: string, extra: Record<string, unknown> = {}): Promise<BenchStream> {
  return api<BenchStream>(app.base, 'POST', '/streams', app.token, { title, ...extra });
}

/** The next round starts only when this one's publish ended and its transcoder finished. */
export async function waitOursSettled(app: Appliance, stream: BenchStream, renditions: string[]): Promise<void> {
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

export interface Peer {
  httpPort: number;
  rtmpPort: number;
  child: Child;
}

/** nginx.conf for the peer (pure). Paths land unquoted, so they are checked by the caller. */
/** nginx-rtmp's HLS settings: bench:latency keeps a 12 s playlist, bench:glass a 6 s one with wait_key. */
export interface PeerHls {
  playlistSeconds: number;
  waitKey: boolean;
}

const LATENCY_PEER_HLS: PeerHls = { playlistSeconds: 12, waitKey: false };

export function peerConfig(o: { dir: string; rtmpPort: number; httpPort: number; user: string | null; hls?: PeerHls }): string {
  const hls = o.hls ?? LATENCY_PEER_HLS;
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
      hls_playlist_length ${hls.playlistSeconds}s;${hls.waitKey ? '\n      wait_key on;' : ''}
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

export async function startPeer(work: string, hls?: PeerHls): Promise<Peer> {
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
  await writeFile(conf, peerConfig({ dir, rtmpPort, httpPort, user: isRoot() ? 'root' : null, hls }));
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

