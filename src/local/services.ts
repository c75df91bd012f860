// Embedded Postgres and Redis for the one-box start and the test suite: their own data dir,
// free loopback ports, passwords from the data dir's secrets file. Debian's packages only.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Rotation } from './log-files.js';
import { freePort, isRoot, startChild, type Managed } from './processes.js';

export interface RunningService {
  url: string;
  process: Managed;
}

interface StartOpts {
  dir: string;
  password: string;
  logDir: string;
  onConsole: (text: string) => void;
  rotation?: Rotation;
  /** The port to listen on (a restart keeps its port: the roles hold its URL); a free one when absent. */
  port?: number;
  /**
   * Restart it (same port, data dir and settings) when it dies, with backoff, until it serves
   * again: the one-box start. Off by default: the test suite's servers stop and start on command.
   */
  restart?: boolean;
}

/** Server settings the bare-metal start and docker-compose.yml share (src/local/compose.test.ts). */
export const POSTGRES_SETTINGS = ['max_connections=200'];
/** appendonly: what Redis holds (BullMQ's jobs, leases, counters) survives a crash and a restart. */
export const REDIS_SETTINGS = ['appendonly yes', 'save ""'];

function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(path.join(root, v, 'bin', 'postgres'))) return path.join(root, v, 'bin');
  throw new Error('PostgreSQL server binaries were not found under /usr/lib/postgresql (apt-get install postgresql).');
}

/**
 * As root, Postgres must run as the `postgres` user and nginx workers run unprivileged: both need
 * to traverse every directory above the data dir. Adds o+x (traverse, not list) where missing.
 */
export function ensureTraversable(dir: string, onConsole: (t: string) => void): void {
  if (!isRoot()) return;
  let d = path.dirname(path.resolve(dir));
  while (d !== path.dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(d, mode | 0o001);
      onConsole(`[onair] made ${d} traversable (o+x) so the postgres and nginx users can reach the data dir.`);
    }
    d = path.dirname(d);
  }
}

async function waitForPostgres(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      last = err;
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`Postgres did not start in time: ${(last as Error)?.message ?? 'unknown error'}`);
}

/**
 * Waits for the first run to serve; fails at once if it exits first (a taken port, a killed
 * predecessor's orphans still holding the shared memory …), stopping it so it is not restarted.
 */
async function firstReady(proc: Managed, name: string, ready: () => Promise<void>): Promise<void> {
  const exited = proc.firstExit.then((code) => {
    throw new Error(`${name} exited at start (code ${code}); see ${name}.log.`);
  });
  try {
    await Promise.race([ready(), exited]);
  } catch (err) {
    await proc.stop(5_000);
    throw err;
  }
}

export async function startPostgres(o: StartOpts): Promise<RunningService> {
  const bin = postgresBinDir();
  const owner = isRoot() ? 'postgres' : null;
  if (!existsSync(path.join(o.dir, 'PG_VERSION'))) {
    rmSync(o.dir, { recursive: true, force: true });
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const pwfile = path.join(path.dirname(o.dir), '.pg-init-password');
    writeFileSync(pwfile, o.password + '\n', { mode: 0o600 });
    if (owner) {
      const uid = Number(execFileSync('id', ['-u', owner]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', owner]).toString().trim());
      chownSync(o.dir, uid, gid);
      chownSync(pwfile, uid, gid);
    }
    const initdb = [path.join(bin, 'initdb'), '-D', o.dir, '-U', 'onair', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--no-locale'];
    try {
      execFileSync(owner ? 'setpriv' : initdb[0]!, owner ? ['--reuid', owner, '--regid', owner, '--init-groups', '--', ...initdb] : initdb.slice(1), { stdio: 'pipe' });
    } catch (err) {
      throw new Error(`initdb failed: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }
  const port = o.port ?? (await freePort());
  const admin = `postgresql://onair:${encodeURIComponent(o.password)}@127.0.0.1:${port}/postgres`;
  const proc = startChild(
    {
      name: 'postgres',
      command: path.join(bin, 'postgres'),
      args: ['-D', o.dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...POSTGRES_SETTINGS.flatMap((s) => ['-c', s])],
      runAs: owner,
      stopSignal: 'SIGINT', // fast shutdown
      // a restart after a crash may first meet "pre-existing shared memory block is still in use"
      // (the old postmaster's backends): that run exits and the backoff retries until one serves
      restart: o.restart ?? false,
      reapGroupOnExit: true,
      ready: () => waitForPostgres(admin, 60_000),
      consoleLine: (l) => (/FATAL|PANIC|ERROR/.test(l) ? l : null),
    },
    { logDir: o.logDir, onConsole: o.onConsole, rotation: o.rotation },
  );
  await firstReady(proc, 'postgres', () => waitForPostgres(admin, 30_000));
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  const { rows } = await client.query(`SELECT 1 FROM pg_database WHERE datname = 'onair'`);
  if (rows.length === 0) await client.query('CREATE DATABASE onair');
  await client.end();
  return { url: `postgresql://onair:${encodeURIComponent(o.password)}@127.0.0.1:${port}/onair`, process: proc };
}

export async function startRedis(o: StartOpts): Promise<RunningService> {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const port = o.port ?? (await freePort());
  const conf = path.join(o.dir, 'redis.conf');
  // a config file, not argv: the password must not show in `ps`
  writeFileSync(
    conf,
    [`port ${port}`, 'bind 127.0.0.1', `dir ${o.dir}`, ...REDIS_SETTINGS, `requirepass ${o.password}`, 'daemonize no', 'protected-mode yes', 'logfile ""'].join('\n') + '\n',
    { mode: 0o600 },
  );
  const url = `redis://:${encodeURIComponent(o.password)}@127.0.0.1:${port}`;
  const proc = startChild(
    {
      name: 'redis',
      command: 'redis-server',
      args: [conf],
      restart: o.restart ?? false,
      reapGroupOnExit: true, // an AOF rewrite child of a dead server
      ready: () => waitForRedis(url, 60_000),
      stopSignal: 'SIGTERM',
      consoleLine: () => null,
    },
    { logDir: o.logDir, onConsole: o.onConsole, rotation: o.rotation },
  );
  await firstReady(proc, 'redis', () => waitForRedis(url, 15_000));
  return { url, process: proc };
}

async function waitForRedis(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const { Redis } = await import('ioredis');
  for (;;) {
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return;
    } catch {
      r.disconnect();
      if (Date.now() > deadline) throw new Error('Redis did not start in time.');
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}
