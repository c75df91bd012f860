// A whole Onair for one integration test file: its own database, Redis prefix, media dir and
// ports; real api, ingest and worker processes; a real nginx in front.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../local/processes.js';
import { hashPassword } from '../auth/passwords.js';
import pg from 'pg';
import { migrate } from '../db/migrate.js';
import { silentLog } from '../log.js';
import { MIGRATIONS_DIR } from '../paths.js';
import { randomId, spawnRole, startTestNginx, testDatabase, testDir, testEnv, waitFor, type RoleProc } from './harness.js';
import type { PrivateServices } from './private-services.js';

interface Tap {
  teardown(fn: () => unknown): void;
}

export interface Stack {
  db: pg.Pool;
  env: NodeJS.ProcessEnv;
  httpPort: number;
  rtmpPort: number;
  apiPort: number;
  dataDir: string;
  mediaDir: string;
  token: string;
  roles: RoleProc[];
  base: string; // http://127.0.0.1:<nginx>
  api<T = any>(method: string, p: string, body?: unknown, token?: string): Promise<{ status: number; body: T; headers: Headers }>;
  createStream(title?: string): Promise<{ id: string; streamKey: string; playbackId: string; playbackUrl: string }>;
  streamStatus(id: string): Promise<string>;
  /** A new signed-in user of the role (attendee unless told): id, name and a token. */
  user(name: string, role?: 'attendee' | 'speaker' | 'moderator' | 'admin'): Promise<{ id: string; name: string; email: string; token: string }>;
  /** A published public event live now (from an hour ago for four hours) with one session on the stream (an hour ago to two hours on). */
  liveSessionOn(streamId: string, title: string): Promise<{ event: any; session: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  rtmpUrl(key: string): string;
  /** Waits until the stream's master playlist answers 200 through nginx (the stream is live). */
  waitForMaster(playbackId: string, timeoutMs?: number): Promise<void>;
  /** The worker that runs the stream's open publish session. */
  currentWorker(streamId: string): Promise<string>;
  addWorker(name: string): RoleProc;
  /** Everything every process wrote: role output, nginx and ffmpeg-facing logs. */
  allLogs(): string;
}

export async function startStack(
  t: Tap,
  o: {
    workers?: number;
    extraEnv?: NodeJS.ProcessEnv;
    /** Every worker's extra env, or one per worker name (e.g. a METRICS_PORT each). */
    workerEnv?: NodeJS.ProcessEnv | ((name: string) => NodeJS.ProcessEnv);
    /** A Postgres and Redis of this stack's own (privateServices), for outage drills; the suite's shared ones otherwise. */
    services?: PrivateServices;
  } = {},
): Promise<Stack> {
  const redisUrl = o.services?.redis.url ?? testEnv().redisUrl;
  const { url, pool } = o.services ? await ownDatabase(t, o.services.postgres.url) : await testDatabase(t);
  const dataDir = testDir('stack');
  const mediaDir = path.join(dataDir, 'media');
  const [apiPort, rtmpPort, originPort] = [await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    DATABASE_URL: url,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: `t${randomId()}`,
    JWT_SECRET: randomId(24),
    INTERNAL_API_KEY: randomId(16),
    PLAYBACK_SECRET: randomId(24),
    // relay destinations' stream keys are sealed with it (api) and opened with it (worker)
    RELAY_KEYS: `t1:${randomBytes(32).toString('base64')}`,
    PORT: String(apiPort),
    RTMP_PORT: String(rtmpPort),
    ORIGIN_PORT: String(originPort),
    DATA_DIR: dataDir,
    MEDIA_DIR: mediaDir,
    LOG_LEVEL: 'debug', // the most talkative logs are the ones that must not leak a key
    // a publisher that leaves ends its stream at once unless a test is about the reconnect grace
    // (the default 20 s would make every "publisher left" test wait it out)
    RECONNECT_GRACE_SECONDS: '0',
    ...o.extraEnv,
  };
  const roles: RoleProc[] = [];
  const addRole = (role: string, name = role, extra: NodeJS.ProcessEnv = {}) => {
    const r = spawnRole(t, role, { ...env, INSTANCE_ID: name, ...extra }, name);
    roles.push(r);
    return r;
  };
  const playbackSecret = env.PLAYBACK_TOKENS === 'off' ? undefined : env.PLAYBACK_SECRET;
  const httpPort = await startTestNginx(t, { dataDir, mediaDir, apiPort, playbackSecret, originPort });
  env.HTTP_PORT = String(httpPort);
  env.HLS_HOST = `127.0.0.1:${httpPort}`;
  addRole('api');
  addRole('ingest');
  addRole('origin'); // the low-latency playlist origin beside nginx
  const workerEnv = (name: string) => (typeof o.workerEnv === 'function' ? o.workerEnv(name) : o.workerEnv);
  for (let i = 1; i <= (o.workers ?? 1); i++) addRole('worker', `worker-${i}`, workerEnv(`worker-${i}`));

  const base = `http://127.0.0.1:${httpPort}`;
  const api: Stack['api'] = async (method, p, body, token) => {
    const res = await fetch(`${base}/api${p}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep text
    }
    return { status: res.status, body: parsed as any, headers: res.headers };
  };

  await pool.query(`INSERT INTO users (email, name, role, password_hash) VALUES ('admin@test.local', 'Admin', 'admin', $1)`, [await hashPassword('admin-password')]);
  await waitFor(() => api('GET', '/health').then((r) => r.status === 200), { what: 'the API through nginx', timeoutMs: 20_000 });
  const login = await api('POST', '/auth/login', { email: 'admin@test.local', password: 'admin-password' });
  if (login.status !== 200) throw new Error(`login failed: ${login.status}`);
  const token = login.body.token as string;
  let userHash: Promise<string> | undefined; // one hash for every test user (argon2 is slow on purpose)
  await waitFor(() => roles.find((r) => r.name === 'ingest')!.output().includes('RTMP ingest listening'), { what: 'the ingest to listen' });
  await waitFor(() => roles.filter((r) => r.name.startsWith('worker')).every((r) => r.output().includes('Transcode worker ready')), { what: 'the workers' });

  return {
    db: pool,
    env,
    httpPort,
    rtmpPort,
    apiPort,
    dataDir,
    mediaDir,
    token,
    roles,
    base,
    api,
    async createStream(title = 'Test stream') {
      const r = await api('POST', '/streams', { title }, token);
      if (r.status !== 201) throw new Error(`create stream: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async user(name, role = 'attendee') {
      userHash ??= hashPassword('user-password');
      const email = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${randomId()}@example.com`;
      const { rows } = await pool.query<{ id: string }>(`INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4) RETURNING id`, [email, name, role, await userHash]);
      const login = await api('POST', '/auth/login', { email, password: 'user-password' });
      if (login.status !== 200) throw new Error(`login of ${name} → ${login.status}`);
      return { id: rows[0]!.id, name, email, token: login.body.token as string };
    },
    async liveSessionOn(streamId, title) {
      const at = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();
      const event = await api('POST', '/events', { title, startsAt: at(-1), endsAt: at(3), status: 'published' }, token);
      const session = await api('POST', `/events/${event.body.id}/sessions`, { title: 'Main', startsAt: at(-1), endsAt: at(2), streamId }, token);
      if (event.status !== 201 || session.status !== 201) throw new Error(`liveSessionOn → ${event.status} ${session.status} ${JSON.stringify(session.body)}`);
      return { event: event.body, session: session.body };
    },
    async streamStatus(id) {
      const r = await api('GET', `/streams/${id}`, undefined, token);
      return r.body.status;
    },
    rtmpUrl: (key) => `rtmp://127.0.0.1:${rtmpPort}/live/${key}`,
    async waitForMaster(playbackId, timeoutMs = 30_000) {
      await waitFor(async () => (await fetch(`${base}/hls/${playbackId}/master.m3u8`)).status === 200, { what: 'the master playlist', timeoutMs });
    },
    async currentWorker(streamId) {
      const { rows } = await pool.query(`SELECT worker_id FROM publish_sessions WHERE stream_id = $1 AND ended_at IS NULL`, [streamId]);
      return rows[0]?.worker_id as string;
    },
    addWorker: (name) => addRole('worker', name, workerEnv(name)),
    allLogs() {
      const logDir = path.join(dataDir, 'logs');
      const files = readdirSync(logDir).map((f) => readFileSync(path.join(logDir, f), 'utf8'));
      return [...roles.map((r) => r.output()), ...files].join('\n');
    },
  };
}

/** The private Postgres's database, migrated; its pool survives the server's outages (errors only). */
async function ownDatabase(t: Tap, url: string): Promise<{ url: string; pool: pg.Pool }> {
  const pool = new pg.Pool({ connectionString: url, max: 5, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => undefined);
  await migrate({ pool, dir: MIGRATIONS_DIR, log: silentLog() });
  t.teardown(() => pool.end());
  return { url, pool };
}
