// bench:api: requests/s and p99 latency of GET /api/events and GET /api/events/:id through our
// nginx (nginx/onair.conf.template in front of the real api role, embedded Postgres and Redis),
// each beside the same nginx serving a static file holding the very bytes of that API answer
// from the media dir at /hls/. Same run, same client (autocannon, 100 connections, same headers).
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import autocannon, { type Result } from 'autocannon';
import { createPool } from '../db/pool.js';
import { freePort } from '../local/processes.js';

import { startTestNginx, waitFor, type Teardown } from '../testing/harness.js';
import { hashPassword } from '../auth/passwords.js';
import { benchWorkDir, checkIdle, clkTck, machineCpu, machineInfo, onCleanup, round, runBench, say, startBackingServices, sleep, startNodeBin, stopChild, writeResult } from './common.js';

const CONNECTIONS = 100;
const DURATION_S = benchDuration(process.env.BENCH_DURATION);
const WARMUP_S = Math.min(3, DURATION_S); // JIT, pools and keepalive connections, not recorded
const SETTLE_MS = 1_000;
const EVENT_COUNT = 50;
const BENCH_DEADLINE_MS = 10 * 60_000;
const STATIC_DIR = 'bench-static'; // under <media>/hls/, served by our config's /hls/ location

interface Route {
  name: string;
  key: string; // result key and static file name
  path(eventIds: string[]): string;
}

// The routes under load, signed in as an attendee (the API answers nobody anonymous).
const ROUTES: Route[] = [
  { name: 'GET /api/events', key: 'events-list', path: () => '/api/events' },
  { name: 'GET /api/events/:id', key: 'events-get', path: (ids) => `/api/events/${ids[Math.floor(ids.length / 2)]}` },
];

/** BENCH_DURATION=5 shortens a run for a smoke test (its figures are not comparable). */
function benchDuration(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 20;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= 1 && n <= 600) return n;
  say(`bench:api: BENCH_DURATION must be a whole number of seconds from 1 to 600, but it is "${raw}".`);
  process.exit(2);
}

async function call(base: string, method: string, route: string, o: { token?: string; body?: unknown } = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text() };
}

// ---- the stack: embedded Postgres and Redis, migrations, the api role, our nginx -----------

interface Stack {
  base: string; // http://127.0.0.1:<nginx>
  mediaDir: string;
  db: ReturnType<typeof createPool>;
  apiPid: number | undefined;
  apiLog: string;
}

async function startStack(work: string): Promise<Stack> {
  const dataDir = path.join(work, 'data');
  const mediaDir = path.join(dataDir, 'media');
  const { postgres, redis, db, logDir } = await startBackingServices(dataDir);

  const apiPort = await freePort();
  const apiLog = path.join(logDir, 'api.out');
  // the api role as the shipped image runs it (NODE_ENV=production); killed with us (pdeathsig)
  const api = startNodeBin('api', 'api', {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: 'bench',
    JWT_SECRET: randomBytes(32).toString('hex'),
    PLAYBACK_SECRET: randomBytes(32).toString('hex'),
    PORT: String(apiPort),
    DATA_DIR: dataDir,
    MEDIA_DIR: mediaDir,
    LOG_LEVEL: 'warn',
  }, apiLog);
  onCleanup(() => stopChild(api, 'SIGTERM', 10_000));

  // nginx with our config (prepareNginx renders onair.conf.template), stopped at cleanup
  const asCleanups: Teardown = { teardown: (fn) => onCleanup(async () => void (await fn())) };
  const httpPort = await startTestNginx(asCleanups, { dataDir, mediaDir, apiPort });
  const base = `http://127.0.0.1:${httpPort}`;
  say(`Started the api role (port ${apiPort}, output in ${apiLog}) behind nginx on port ${httpPort}.`);
  await waitFor(
    async () => {
      if (api.process.exitCode !== null) throw new Error(`the api role exited: ${api.stderrTail()}`);
      return (await call(base, 'GET', '/api/health')).status === 200;
    },
    { what: 'GET /api/health through nginx', timeoutMs: 30_000, intervalMs: 250 },
  );
  return { base, mediaDir, db, apiPid: api.process.pid, apiLog };
}

// ---- data: an admin, an attendee, 50 published public events --------------------------------

async function signIn(stack: Stack, role: 'admin' | 'attendee'): Promise<{ id: string; token: string }> {
  const email = `bench-${role}@onair.local`;
  const password = randomBytes(12).toString('base64url');
  const { rows } = await stack.db.query<{ id: string }>(
    `INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4) RETURNING id`,
    [email, `Bench ${role}`, role, await hashPassword(password)],
  );
  const login = await call(stack.base, 'POST', '/api/auth/login', { body: { email, password } });
  if (login.status !== 200) throw new Error(`POST /api/auth/login (${role}) answered ${login.status}: ${login.text.slice(0, 300)}`);
  return { id: rows[0]!.id, token: (JSON.parse(login.text) as { token: string }).token };
}

/** Published, public, one a day around today: 24 past, 1 live, 25 upcoming. Returns their ids. */
async function createEvents(stack: Stack, adminId: string): Promise<string[]> {
  const description =
    'A bench event: two hours of talks streamed live with chat, polls and Q&A. Doors open fifteen minutes early; recordings follow within a day.';
  const { rows } = await stack.db.query<{ id: string }>(
    `INSERT INTO events (title, description, starts_at, ends_at, timezone, status, visibility, attendee_limit, branding, created_by)
     SELECT 'Bench event ' || lpad(i::text, 2, '0'), $1,
            date_trunc('minute', now()) + (i - $2) * interval '1 day' - interval '30 minutes',
            date_trunc('minute', now()) + (i - $2) * interval '1 day' + interval '90 minutes',
            'Europe/Berlin', 'published', 'public', 500, '{"primaryColor": "#1f6feb", "secondaryColor": "#0d1117"}', $3
     FROM generate_series(1, $4::int) AS i
     ORDER BY i
     RETURNING id`,
    [description, Math.ceil(EVENT_COUNT / 2), adminId, EVENT_COUNT],
  );
  return rows.map((r) => r.id);
}

// ---- load ------------------------------------------------------------------------------------

interface Run {
  url: string;
  reqPerSec: number; // completed requests / seconds (autocannon's per-second histogram keeps 3 digits)
  completed: number;
  seconds: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
  bytesPerResponse: number; // body and headers
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  clientCpus: number; // CPUs the load generator (this process) used: near 1 means it was the limit
  apiCpus: number; // CPUs the api role used (one Node process: near 1 means it was the limit)
  machineBusyCpus: number;
}

/** User + system CPU seconds a process has used so far, from /proc/<pid>/stat (Linux). */
async function processCpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // fields after comm (which may hold spaces): state is the 1st, utime the 12th, stime the 13th
  const rest = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
  const ticks = Number(rest[11]) + Number(rest[12]);
  return Number.isFinite(ticks) ? ticks / (await clkTck()) : 0;
}

async function load(url: string, headers: Record<string, string>, seconds: number, apiPid: number | undefined): Promise<Run> {
  const cpu0 = process.cpuUsage();
  const api0 = await processCpuSeconds(apiPid);
  const machine0 = await machineCpu();
  const t0 = performance.now();
  const r: Result = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers, timeout: 10 });
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const api1 = await processCpuSeconds(apiPid);
  const machine1 = await machineCpu();
  return {
    url,
    reqPerSec: r.duration > 0 ? round(r.requests.total / r.duration, 1) : 0,
    completed: r.requests.total,
    seconds: r.duration,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, mean: round(r.latency.mean, 2), max: r.latency.max },
    bytesPerResponse: r.requests.total > 0 ? Math.round(r.throughput.total / r.requests.total) : 0,
    ok2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([code, s]) => [code, s.count])),
    clientCpus: round((cpu.user + cpu.system) / 1e6 / wall, 2),
    apiCpus: round((api1 - api0) / wall, 2),
    machineBusyCpus: round((machine1.busySeconds - machine0.busySeconds) / wall, 2),
  };
}

function problems(r: Run): string[] {
  const out: string[] = [];
  if (r.ok2xx === 0) out.push('no 2xx answer');
  if (r.non2xx > 0) out.push(`${r.non2xx} non-2xx (${JSON.stringify(r.statusCodes)})`);
  if (r.errors > 0) out.push(`${r.errors} errors (${r.timeouts} timeouts)`);
  return out;
}

const describe = (label: string, r: Run) =>
  `  ${label.padEnd(7)} ${r.reqPerSec.toFixed(0).padStart(7)} req/s  p50 ${String(r.latencyMs.p50).padStart(4)} ms  p99 ${String(r.latencyMs.p99).padStart(4)} ms  ` +
  `${r.bytesPerResponse} B/response  2xx ${r.ok2xx}, non-2xx ${r.non2xx}, errors ${r.errors}  (CPUs: client ${r.clientCpus}, api ${r.apiCpus}, machine ${r.machineBusyCpus})`;

interface RouteResult {
  route: string;
  bodyBytes: number;
  ours: Run;
  static: Run;
  ratio: { reqPerSec: number | null; p99: number | null };
}

/** Checks the route answers 200 with a body, writes that body as the static peer's file. */
async function prepareRoute(stack: Stack, route: Route, ids: string[], token: string): Promise<{ ours: string; peer: string; body: string }> {
  const p = route.path(ids);
  const answer = await call(stack.base, 'GET', p, { token });
  if (answer.status !== 200 || answer.text.length === 0) throw new Error(`${route.name} (${p}) answered ${answer.status} with ${answer.text.length} bytes: ${answer.text.slice(0, 300)}`);
  const parsed = JSON.parse(answer.text) as { items?: unknown[] };
  if (parsed.items !== undefined && parsed.items.length === 0) throw new Error(`${route.name} answered an empty list: the events are not visible to the attendee`);
  const dir = path.join(stack.mediaDir, 'hls', STATIC_DIR);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  await writeFile(path.join(dir, `${route.key}.json`), answer.text, { mode: 0o644 });
  const peer = `/hls/${STATIC_DIR}/${route.key}.json`;
  const check = await call(stack.base, 'GET', peer);
  if (check.status !== 200 || check.text !== answer.text) throw new Error(`nginx did not serve the static copy at ${peer} (${check.status})`);
  return { ours: `${stack.base}${p}`, peer: `${stack.base}${peer}`, body: answer.text };
}

async function measureRoute(stack: Stack, route: Route, ids: string[], token: string): Promise<RouteResult> {
  const urls = await prepareRoute(stack, route, ids, token);
  // identical requests on both sides (nginx ignores the Authorization header of a static file)
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
  say(`${route.name} (${Buffer.byteLength(urls.body)} B body):`);
  const side = async (label: string, url: string) => {
    await load(url, headers, WARMUP_S, stack.apiPid);
    await sleep(SETTLE_MS);
    const r = await load(url, headers, DURATION_S, stack.apiPid);
    say(describe(label, r));
    await sleep(SETTLE_MS);
    return r;
  };
  const ours = await side('ours', urls.ours);
  const peer = await side('static', urls.peer);
  return {
    route: route.name,
    bodyBytes: Buffer.byteLength(urls.body),
    ours,
    static: peer,
    ratio: {
      reqPerSec: peer.reqPerSec > 0 ? round(ours.reqPerSec / peer.reqPerSec, 3) : null,
      p99: peer.latencyMs.p99 > 0 ? round(ours.latencyMs.p99 / peer.latencyMs.p99, 2) : null,
    },
  };
}

// ---- the bench -------------------------------------------------------------------------------

async function main(): Promise<void> {
  const machine = machineInfo();
  const busyCpusBefore = await checkIdle();
  const { work, keep } = await benchWorkDir('api');

  say(`bench:api on ${machine.nproc} × ${machine.cpuModel}: ${ROUTES.map((r) => r.name).join(' and ')} through our nginx (onair.conf.template → api role),`);
  say(`  each beside the same nginx serving a static file of that answer's bytes from the media dir (/hls/${STATIC_DIR}/);`);
  say(`  autocannon, ${CONNECTIONS} connections, ${DURATION_S} s each after a ${WARMUP_S} s warm-up, signed in as an attendee.`);

  const stack = await startStack(work);
  const admin = await signIn(stack, 'admin');
  const attendee = await signIn(stack, 'attendee');
  const ids = await createEvents(stack, admin.id);
  say(`Created ${ids.length} published public events; signed in an admin and an attendee through POST /api/auth/login.`);

  const routes: RouteResult[] = [];
  for (const route of ROUTES) routes.push(await measureRoute(stack, route, ids, attendee.token));

  const bad = routes.flatMap((r) => [...problems(r.ours).map((p) => `${r.route} ours: ${p}`), ...problems(r.static).map((p) => `${r.route} static: ${p}`)]);
  say('');
  for (const r of routes) {
    say(
      `  ${r.route.padEnd(20)} ours ${r.ours.reqPerSec.toFixed(0)} req/s, p99 ${r.ours.latencyMs.p99} ms; static ${r.static.reqPerSec.toFixed(0)} req/s, p99 ${r.static.latencyMs.p99} ms; ` +
        `ratio ours/static: req/s ${r.ratio.reqPerSec?.toFixed(3) ?? '—'}, p99 ${r.ratio.p99?.toFixed(2) ?? '—'}`,
    );
  }
  // LOG_LEVEL=warn: anything the api role wrote during the load is worth a look
  const apiLines = (await readFile(stack.apiLog, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '').length;
  if (apiLines > 0) say(`  The api role wrote ${apiLines} warning/error line(s) during the run: see ${stack.apiLog}.`);
  if (bad.length) throw new Error(`the load was not clean, so no result is written:\n  ${bad.join('\n  ')}`);

  const out = await writeResult('api', {
    date: new Date().toISOString(),
    machine: { ...machine, busyCpusBefore },
    connections: CONNECTIONS,
    durationSeconds: DURATION_S, // 20 unless BENCH_DURATION shortened a smoke run
    apiLogLines: apiLines,
    setup:
      'embedded Postgres and Redis, migrations, the api role (node dist/bin/api.js, NODE_ENV=production) behind nginx rendered from nginx/onair.conf.template; ' +
      `${EVENT_COUNT} published public events; requests signed in as an attendee (Bearer token)`,
    peer: `the same nginx serving the API answer's exact bytes as a static file from the media dir at /hls/${STATIC_DIR}/ (our /hls/ location)`,
    method: `autocannon 8, ${CONNECTIONS} connections, no pipelining, ${DURATION_S} s per side after a ${WARMUP_S} s warm-up, one side at a time (ours, then static); req/s = completed requests / duration; latency in whole ms (autocannon's histogram)`,
    routes,
  });
  keep(apiLines > 0);
  say(`  results: ${out}`);
  say('');
  say(`bench:api ${routes.map((r) => `${r.route} ${r.ours.reqPerSec.toFixed(0)} req/s (p99 ${r.ours.latencyMs.p99} ms) = ${r.ratio.reqPerSec?.toFixed(2) ?? '—'} × static`).join('; ')}`);
}

runBench('bench:api', main, BENCH_DEADLINE_MS);
