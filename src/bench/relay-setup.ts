// bench:relay's set-up: the destinations' nginx-rtmp (one nginx, one application, a stream name
// per destination; nothing recorded, so the disk stays out of it), the appliance's roles (api,
// ingest, worker; node dist/bin/<role>.js as the shipped image runs them), an admin token, and
// the worker's ffmpeg found in /proc.
import { nginxRtmpPreamble, RTMP_MODULE } from '../testing/nginx-rtmp.js';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type pg from 'pg';
import { createTokenService } from '../http/auth.js';
import { freePort, isRoot } from '../local/processes.js';
import { waitFor } from '../testing/harness.js';
import { onCleanup, say, startBackingServices, startChild, startNodeBin, stopChild, type Child } from './common.js';


export interface DestinationServer {
  port: number;
  /** nginx's master (its worker is its child: CPU is read for the tree). */
  pid: number;
}

/** nginx.conf of the destinations (pure): live, no recording, no HLS; one worker. */
export function destinationConfig(o: { dir: string; port: number; user: string | null }): string {
  return `${nginxRtmpPreamble({ dir: o.dir, user: o.user })}rtmp {
  server {
    listen 127.0.0.1:${o.port};
    chunk_size 4096;
    # every destination publishes its own stream name here; nobody plays, nothing is recorded
    application live {
      live on;
      record off;
    }
  }
}
`;
}

export async function startDestinationServer(work: string): Promise<DestinationServer> {
  if (!existsSync(RTMP_MODULE)) throw new Error(`${RTMP_MODULE} is missing: run "npm run bench:relay" (it installs libnginx-mod-rtmp) or apt-get install libnginx-mod-rtmp.`);
  const dir = path.join(work, 'nginx-rtmp');
  if (!/^\/[A-Za-z0-9_./-]*$/.test(dir)) throw new Error(`${dir} holds characters nginx would misread; set TMPDIR to a plain path.`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, destinationConfig({ dir, port, user: isRoot() ? 'root' : null }));
  const child = startChild('nginx-rtmp', 'nginx', ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')]);
  onCleanup(() => stopChild(child, 'SIGQUIT', 10_000));
  await waitFor(
    async () => {
      if (child.process.exitCode !== null) throw new Error(`nginx exited: ${child.stderrTail()} ${await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '')}`);
      return new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      });
    },
    { what: 'the destinations’ nginx-rtmp to listen', timeoutMs: 15_000, intervalMs: 200 },
  );
  return { port, pid: child.process.pid! };
}

export interface Appliance {
  apiBase: string;
  rtmpPort: number;
  workerMetrics: string;
  metricsKey: string;
  worker: Child;
  token: string;
  db: pg.Pool;
  logDir: string;
}

/** Postgres, Redis and the three roles, relaying allowed to this machine (RELAY_ALLOW_PRIVATE). */
export async function startAppliance(work: string): Promise<Appliance> {
  const dataDir = path.join(work, 'data');
  const { postgres, redis, db, logDir } = await startBackingServices(dataDir);
  const [apiPort, rtmpPort, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const jwtSecret = randomBytes(32).toString('hex');
  const metricsKey = randomBytes(16).toString('hex');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: 'benchr',
    JWT_SECRET: jwtSecret,
    INTERNAL_API_KEY: metricsKey,
    PLAYBACK_SECRET: randomBytes(32).toString('base64url'),
    RELAY_KEYS: `b1:${randomBytes(32).toString('base64')}`,
    RELAY_ALLOW_PRIVATE: 'true', // the destinations are on 127.0.0.1
    PORT: String(apiPort),
    RTMP_PORT: String(rtmpPort),
    HTTP_PORT: String(httpPort),
    HLS_HOST: `127.0.0.1:${httpPort}`,
    DATA_DIR: dataDir,
    MEDIA_DIR: path.join(dataDir, 'media'),
    LOG_LEVEL: 'info',
  };
  const log = (name: string) => path.join(logDir, `${name}.out`);
  const api = startNodeBin('api', 'api', { ...env, INSTANCE_ID: 'bench-api', LOG_LEVEL: 'warn' }, log('api'));
  onCleanup(() => stopChild(api, 'SIGTERM', 10_000));
  const ingest = startNodeBin('ingest', 'ingest', { ...env, INSTANCE_ID: 'bench-ingest' }, log('ingest'));
  onCleanup(() => stopChild(ingest, 'SIGTERM', 10_000));
  const worker = startNodeBin('worker', 'worker', { ...env, INSTANCE_ID: 'bench-worker', METRICS_PORT: String(metricsPort) }, log('worker'));
  onCleanup(() => stopChild(worker, 'SIGTERM', 15_000));
  const apiBase = `http://127.0.0.1:${apiPort}/api`;
  await waitFor(
    async () => {
      for (const r of [api, ingest, worker]) if (r.process.exitCode !== null) throw new Error(`${r.name} exited: see ${log(r.name)}`);
      return (await fetch(`${apiBase}/health`)).status === 200;
    },
    { what: 'GET /api/health', timeoutMs: 30_000, intervalMs: 250 },
  );
  await waitFor(async () => (await readFile(log('ingest'), 'utf8').catch(() => '')).includes('RTMP ingest listening'), { what: 'the ingest to listen', timeoutMs: 30_000, intervalMs: 250 });
  await waitFor(async () => (await readFile(log('worker'), 'utf8').catch(() => '')).includes('Transcode worker ready'), { what: 'the worker', timeoutMs: 30_000, intervalMs: 250 });

  const { rows } = await db.query<{ id: string }>(`INSERT INTO users (email, name, role) VALUES ('bench-relay-admin@onair.local', 'Bench admin', 'admin') RETURNING id`);
  const { rows: dev } = await db.query<{ id: string }>(`INSERT INTO devices (user_id, user_agent, expires_at) VALUES ($1, 'bench:relay', now() + interval '1 day') RETURNING id`, [rows[0]!.id]);
  const token = await createTokenService({ secret: jwtSecret, expiresInSeconds: 3_600 }).sign({ userId: rows[0]!.id, deviceId: dev[0]!.id });
  say(`Started api (port ${apiPort}), ingest (RTMP ${rtmpPort}), worker (metrics ${metricsPort}); logs in ${logDir}.`);
  return { apiBase, rtmpPort, workerMetrics: `http://127.0.0.1:${metricsPort}/metrics`, metricsKey, worker, token, db, logDir };
}

/** A REST call as the admin; throws on anything but 2xx. */
export async function api<T>(app: Appliance, method: string, route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${app.apiBase}${route}`, {
    method,
    headers: { authorization: `Bearer ${app.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} /api${route} answered ${res.status}: ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** A counter of the worker's /metrics (0 when absent). */
export async function workerCounter(app: Appliance, name: string): Promise<number> {
  const res = await fetch(app.workerMetrics, { headers: { authorization: `Bearer ${app.metricsKey}` }, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`the worker's /metrics answered ${res.status}`);
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** The pid of the worker's ffmpeg (its child named ffmpeg), or null. */
export async function ffmpegOf(workerPid: number): Promise<number | null> {
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => null);
    if (!stat) continue;
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (comm === 'ffmpeg' && ppid === workerPid) return Number(name);
  }
  return null;
}
