// Helpers for integration tests: a database and Redis prefix of the file's own, real role
// processes, a real nginx, an ffmpeg test-pattern publisher, ffprobe, and polling.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '../db/migrate.js';
import { silentLog } from '../log.js';
import { freePort, isRoot, startChild } from '../local/processes.js';
import { prepareNginx } from '../local/nginx-config.js';
import { startViewerLineForwarder } from '../analytics/forwarder.js';
import { viewerDatagramKey } from '../analytics/viewer-datagram.js';
import { APP_ROOT, MIGRATIONS_DIR } from '../paths.js';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export function testEnv(): { pgUrl: string; redisUrl: string; workDir: string } {
  const pgUrl = process.env.TEST_DATABASE_URL;
  const redisUrl = process.env.TEST_REDIS_URL;
  if (!pgUrl || !redisUrl) throw new Error('Run integration tests with `npm test` (it starts Postgres and Redis).');
  const workDir = process.env.TEST_WORK_DIR ?? path.join(APP_ROOT, '.onair-test', 'work');
  mkdirSync(workDir, { recursive: true, mode: 0o755 });
  return { pgUrl, redisUrl, workDir };
}

export const randomId = (n = 6) => randomBytes(n).toString('hex');

/** A fresh, migrated database for one test file; dropped at teardown. */
export async function testDatabase(t: Teardown): Promise<{ url: string; pool: pg.Pool }> {
  const { pgUrl } = testEnv();
  const name = `t_${randomId()}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(pgUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const pool = new pg.Pool({ connectionString: url, max: 5 });
  pool.on('error', () => undefined);
  await migrate({ pool, dir: MIGRATIONS_DIR, log: silentLog() });
  t.teardown(async () => {
    await pool.end();
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.end();
  });
  return { url, pool };
}

/** A working directory (data dir, media dir) with the modes nginx needs. */
export function testDir(prefix: string): string {
  const dir = mkdtempSync(path.join(testEnv().workDir, `${prefix}-`));
  // mkdtemp makes 700: nginx workers (unprivileged) could not read the segments below
  chmodSync(dir, 0o755);
  return dir;
}

export interface RoleProc {
  name: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Spawns `node dist/bin/<role>.js` with the given env; output is kept for assertions. */
export function spawnRole(t: Teardown, role: string, env: NodeJS.ProcessEnv, name = role): RoleProc {
  const child = spawn(process.execPath, [path.join(APP_ROOT, 'dist', 'bin', `${role}.js`)], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  });
  return { name, child, output: () => out, exited, kill: (s = 'SIGTERM') => void child.kill(s) };
}

/** nginx in front of test API nodes; with playbackSecret it checks viewer tokens and sends viewer lines to the API nodes. */
/** recordingsDir, uploadsDir: RECORDINGS_DIR's and UPLOADS_DIR's defaults (<dataDir>/recordings, <dataDir>/uploads) unless told. */
/** originPort: the LL-HLS playlist origin's (none: LL requests are 404). */
export async function startTestNginx(t: Teardown, o: { dataDir: string; mediaDir: string; recordingsDir?: string; uploadsDir?: string; apiPort: number | number[]; playbackSecret?: string; originPort?: number }): Promise<number> {
  const httpPort = await freePort();
  const logDir = path.join(o.dataDir, 'logs');
  const originUpstreams = o.originPort ? [`127.0.0.1:${o.originPort}`] : [];
  const nginx = prepareNginx({ dataDir: o.dataDir, logDir, httpPort, mediaDir: o.mediaDir, recordingsDir: o.recordingsDir ?? path.join(o.dataDir, 'recordings'), uploadsDir: o.uploadsDir ?? path.join(o.dataDir, 'uploads'), apiUpstreams: [o.apiPort].flat().map((p) => `127.0.0.1:${p}`), originUpstreams, runAsRoot: isRoot(), playbackSecret: o.playbackSecret ?? null });
  if (nginx.viewerLines && o.playbackSecret) {
    const forwarder = startViewerLineForwarder({ file: nginx.viewerLines, pidFile: nginx.pidFile, upstreams: [o.apiPort].flat().map((p) => `127.0.0.1:${p}`), key: viewerDatagramKey(o.playbackSecret), log: silentLog() });
    t.teardown(() => forwarder.stop());
  }
  const proc = startChild({ name: 'nginx', command: nginx.command, args: nginx.args, stopSignal: 'SIGQUIT', restart: false }, { logDir, onConsole: () => undefined });
  t.teardown(() => proc.stop());
  await waitFor(() => fetch(`http://127.0.0.1:${httpPort}/`, { redirect: 'manual' }).then((r) => r.status === 302, () => false), { what: 'nginx to answer', timeoutMs: 10_000 });
  return httpPort;
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  o: { what: string; timeoutMs?: number; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v as T;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${o.what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 100));
  }
}

export interface Publisher {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Publishes an ffmpeg lavfi test pattern (H.264 + AAC unless told otherwise) in real time. */
export function publishTestPattern(
  t: Teardown,
  o: { url: string; width: number; height: number; fps: number; seconds: number; videoKbps?: number; videoCodec?: 'libx264' | 'flv1'; audio?: boolean; gopSeconds?: number; noise?: boolean; bFrames?: number },
): Publisher {
  const kbps = o.videoKbps ?? 1500;
  const args = ['-hide_banner', '-loglevel', 'warning', '-re', '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`];
  if (o.audio !== false) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  // noise: film grain on every frame, so the encoder really spends videoKbps (a bare pattern compresses to far less)
  if (o.noise) args.push('-vf', 'noise=alls=30:allf=t');
  args.push('-t', String(o.seconds));
  if ((o.videoCodec ?? 'libx264') === 'libx264') {
    const gop = String(o.fps * (o.gopSeconds ?? 2));
    args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-g', gop, '-keyint_min', gop, '-sc_threshold', '0');
    if (o.bFrames) args.push('-bf', String(o.bFrames)); // ultrafast sends none by itself
  } else {
    args.push('-c:v', 'flv1');
  }
  args.push('-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps * 2}k`);
  if (o.audio !== false) args.push('-c:a', 'aac', '-b:a', '128k');
  args.push('-f', 'flv', o.url);
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  t.teardown(stop);
  return { child, stderr: () => err, exited, stop };
}

export function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Decodes a media URL fully with ffmpeg and reports the video stream's shape (ffprobe). */
export async function probeVideo(url: string): Promise<{ width: number; height: number; codec: string; decodedOk: boolean }> {
  const probe = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,codec_name', '-of', 'json', url]);
  const s = (JSON.parse(probe.stdout || '{}').streams ?? [])[0] ?? {};
  const decode = await run('ffmpeg', ['-v', 'error', '-i', url, '-f', 'null', '-']);
  return { width: s.width, height: s.height, codec: s.codec_name, decodedOk: decode.code === 0 && decode.stderr.trim() === '' };
}

export async function getText(url: string): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text(), headers: r.headers };
}
