// The REST API in-process (createApp on a loopback port) against real Postgres and Redis, with
// helpers to make users and sign them in. Each test file gets its own database and Redis prefix.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Role } from '../access.js';
import { loadConfig, RATE_ACTIONS, type Config } from '../config.js';
import { createApp, type AppDeps } from '../bin/api/app.js';
import type { AnswerCheck } from '../http/endpoint.js';
import { createAppDeps } from '../bin/api/deps.js';
import { createTokenService } from '../http/auth.js';
import { silentLog } from '../log.js';
import type { Principal } from '../principal.js';
import { attachWebSockets } from '../bin/api/websockets.js';
import type { Limits } from '../realtime/limits.js';
import { createBus } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { hashPassword } from '../auth/passwords.js';
import { randomId, testDatabase, testDir, testEnv, type Teardown } from './harness.js';

export interface Answer {
  status: number;
  type: string;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

export interface CallOptions {
  body?: unknown;
  raw?: string;
  token?: string;
  type?: string;
  headers?: Record<string, string>;
}

export interface TestApi {
  base: string; // http://127.0.0.1:port/api
  wsUrl: string; // ws://127.0.0.1:port/ws
  pool: pg.Pool;
  config: Config;
  deps: AppDeps;
  call(method: string, path: string, o?: CallOptions): Promise<Answer>;
  /** Inserts a user with this role (password "password-<role>") and signs them in. */
  user(role: Role, o?: { email?: string; name?: string }): Promise<{ id: string; email: string; token: string; password: string }>;
  login(email: string, password: string): Promise<string>;
  /** Many signed-in users at once: rows and devices by SQL, tokens signed here (no password hashing). */
  bulkUsers(n: number, role?: Role): Promise<{ id: string; token: string }[]>;
  /** A published event that is live now, with one session live now (as the given admin). */
  liveSession(adminToken: string, o?: { visibility?: 'public' | 'unlisted' | 'private'; speakerIds?: string[] }): Promise<{ event: any; session: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A test API node; with `nodeOf`, a second node on the same database and Redis prefix. */
export async function startTestApi(t: Teardown, o: { env?: Record<string, string>; nodeOf?: TestApi; limits?: Limits; redisUrl?: string } = {}): Promise<TestApi> {
  const redisUrl = o.redisUrl ?? testEnv().redisUrl;
  const { pool, url } = o.nodeOf ? { pool: o.nodeOf.pool, url: o.nodeOf.config.databaseUrl! } : await testDatabase(t);
  const config = o.nodeOf?.config ?? loadConfig(
    // DATA_DIR of its own: the playback gate writes its marker files under the media dir
    { DATABASE_URL: url, REDIS_URL: redisUrl, JWT_SECRET: 'j'.repeat(40), PLAYBACK_SECRET: 'p'.repeat(40), REDIS_PREFIX: `t${randomId()}`, HLS_HOST: 'tv.example:8080', RTMP_HOST: 'in.example', DATA_DIR: testDir('api'), ...o.env },
    'api',
  );
  const log = silentLog();
  // the production connection settings: commands fail fast while Redis is down
  const redis = createRedis({ url: redisUrl, log, purpose: 'test-api' });
  const sub = createRedis({ url: redisUrl, log, purpose: 'test-api-sub' });
  t.teardown(() => void (redis.disconnect(), sub.disconnect()));
  const bus = createBus({ pub: redis, sub, prefix: config.redisPrefix, log });
  const deps = createAppDeps({ config, log, db: pool, redis, bus });
  // Every JSON answer is checked against the schema its endpoint declares (and documents).
  const wrongAnswers: string[] = [];
  const checkAnswer: AnswerCheck = (e, status, body) => {
    const answer = e.answers[status];
    if (!answer) return void wrongAnswers.push(`${e.method.toUpperCase()} ${e.path} answered ${status}, which it does not declare`);
    if (!answer.schema) return;
    const r = answer.schema.safeParse(body);
    if (!r.success) wrongAnswers.push(`${e.method.toUpperCase()} ${e.path} ${status} does not match its declared schema: ${r.error.message.slice(0, 800)}`);
  };
  const server = createServer(createApp(deps, { checkAnswer }));
  const realtime = attachWebSockets(server, deps, { bus, nodeId: `node-${randomId()}`, limits: o.limits });
  t.teardown(() => deps.viewerLines.close());
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  t.teardown(async () => {
    await realtime.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}/api`;

  const call: TestApi['call'] = async (method, path, c = {}) => {
    const hasBody = c.body !== undefined || c.raw !== undefined;
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(hasBody ? { 'content-type': c.type ?? 'application/json' } : {}),
        ...(c.token ? { authorization: `Bearer ${c.token}` } : {}),
        ...c.headers,
      },
      body: c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body)),
    });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    if (wrongAnswers.length > 0) throw new Error(wrongAnswers.splice(0).join('\n'));
    return { status: res.status, type, body: text && /json/.test(type) ? JSON.parse(text) : text || null, headers: res.headers };
  };
  const login = async (email: string, password: string) => {
    const r = await call('POST', '/auth/login', { body: { email, password } });
    if (r.status !== 200) throw new Error(`login ${email} → ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token as string;
  };
  const hashes = new Map<string, Promise<string>>();
  const user: TestApi['user'] = async (role, u = {}) => {
    const email = u.email ?? `${role}-${randomId()}@example.com`;
    const password = `password-${role}`;
    if (!hashes.has(role)) hashes.set(role, hashPassword(password));
    const { rows } = await pool.query<{ id: string }>(`INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4) RETURNING id`, [
      email,
      u.name ?? `${role} ${email.slice(0, 8)}`,
      role,
      await hashes.get(role)!,
    ]);
    return { id: rows[0]!.id, email, password, token: await login(email, password) };
  };
  const tokens = createTokenService({ secret: config.jwtSecret, expiresInSeconds: config.jwtExpiresInSeconds });
  const bulkUsers: TestApi['bulkUsers'] = async (n, role = 'attendee') => {
    const { rows } = await pool.query<{ id: string; device: string }>(
      `WITH u AS (INSERT INTO users (email, name, role, password_hash)
         SELECT 'bulk-' || gen_random_uuid() || '@example.com', 'User ' || i, $2, NULL FROM generate_series(1, $1) i RETURNING id)
       INSERT INTO devices (user_id, user_agent, ip, expires_at) SELECT id, 'test', NULL, now() + interval '1 hour' FROM u RETURNING user_id AS id, id AS device`,
      [n, role],
    );
    return Promise.all(rows.map(async (r) => ({ id: r.id, token: await tokens.sign({ userId: r.id, deviceId: r.device }) })));
  };
  const at = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString();
  const liveSession: TestApi['liveSession'] = async (adminToken, l = {}) => {
    const event = await call('POST', '/events', { token: adminToken, body: { title: 'Live', startsAt: at(-1), endsAt: at(3), status: 'published', visibility: l.visibility ?? 'public' } });
    const session = await call('POST', `/events/${event.body.id}/sessions`, { token: adminToken, body: { title: 'Main', startsAt: at(-1), endsAt: at(2), speakerIds: l.speakerIds ?? [] } });
    if (event.status !== 201 || session.status !== 201) throw new Error(`liveSession → ${event.status} ${session.status} ${JSON.stringify(session.body)}`);
    return { event: event.body, session: session.body };
  };
  return { base, wsUrl: `ws://127.0.0.1:${port}/ws`, pool, config, deps, call, user, login, bulkUsers, liveSession };
}

/** Per-user flood limits out of the way, for tests about something else (moderation/rate-limits.int.test.ts tests them). */
export const NO_RATE_LIMITS: Record<string, string> = { ...Object.fromEntries(RATE_ACTIONS.map((a) => [`RATE_LIMIT_${a.toUpperCase()}`, '100000/1s'])), RATE_LIMIT_HOLD_MS: '0' };

/** A Principal for calling a service in-process (what http/auth.ts builds from a token), for tests. */
export const principalOf = (u: { id: string; role: Role }): Principal => ({ id: u.id, role: u.role, deviceId: '00000000-0000-0000-0000-000000000000', expiresAt: Number.MAX_SAFE_INTEGER });
