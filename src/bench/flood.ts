// bench:flood: one account flooding chat must not starve everyone else. Through our nginx to the
// api role (as the other benches), BENCH_OTHERS users (20) each read GET /api/events 5 times a
// second and chat 2 messages a second, first alone (the baseline phase), then while one account
// posts chat as fast as it can over 100 REST connections and 4 WebSockets (the flood phase, in a
// child process: flood-client.ts); each phase BENCH_DURATION seconds (25). Reports the others'
// p99 per kind in both phases and their ratio (target: flood p99 ≤ 2 × baseline p99, or
// baseline + 50 ms when that is larger), and the flooder's accepted messages (counted in
// Postgres) against what its per-user limit allows in that time (target: not more).
//
// Setup: embedded Postgres and Redis, migrations, the api role (NODE_ENV=production, default
// limits unless RATE_LIMIT_CHAT is set) behind nginx rendered from onair.conf.template; users
// and devices by SQL, tokens signed with the api's JWT_SECRET; 20 published public events, one
// with a session live now.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_RATE_LIMITS, parseRateLimit, type RateLimit } from '../config.js';
import { createTokenService } from '../http/auth.js';
import { freePort } from '../local/processes.js';
import { APP_ROOT } from '../paths.js';
import { startTestNginx, waitFor, type Teardown } from '../testing/harness.js';
import type { FloodCommand, FloodReply } from './flood-client.js';
import { benchInt, benchWorkDir, checkIdle, isEnding, machineInfo, onCleanup, processCpuSeconds, round, runBench, say, sleep, startBackingServices, startIpcChild, startNodeBin, stopChild, writeResult } from './common.js';

const int = (name: string, fallback: number, min: number, max: number): number => benchInt('flood', { name, fallback, min, max });

const OTHERS = int('BENCH_OTHERS', 20, 1, 500);
const PHASE_S = int('BENCH_DURATION', 25, 3, 600);
const FLOOD_CONNECTIONS = int('BENCH_FLOOD_CONNECTIONS', 100, 0, 1_000); // 0 or BENCH_FLOOD_SOCKETS=0: one door alone
const FLOOD_SOCKETS = int('BENCH_FLOOD_SOCKETS', 4, 0, 20);
const READ_EVERY_MS = 200; // each other user: GET /api/events 5 times a second
const CHAT_EVERY_MS = 500; // and 2 chat messages a second
const WARMUP_S = 3;
const EVENTS = 20;
const CHAT_LIMIT = process.env.RATE_LIMIT_CHAT || DEFAULT_RATE_LIMITS.chat;
const BENCH_DEADLINE_MS = 8 * 60_000;

// ---- the stack -------------------------------------------------------------------------------

async function startStack(work: string) {
  const dataDir = path.join(work, 'data');
  const mediaDir = path.join(dataDir, 'media');
  const { postgres, redis, db, logDir } = await startBackingServices(dataDir);
  const apiPort = await freePort();
  const apiLog = path.join(logDir, 'api.out');
  const jwtSecret = randomBytes(32).toString('hex');
  const api = startNodeBin('api', 'api', {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: 'benchflood',
    JWT_SECRET: jwtSecret,
    PLAYBACK_SECRET: randomBytes(32).toString('hex'),
    PORT: String(apiPort),
    DATA_DIR: dataDir,
    MEDIA_DIR: mediaDir,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_CHAT: CHAT_LIMIT,
  }, apiLog);
  onCleanup(() => stopChild(api, 'SIGTERM', 10_000));
  const asCleanups: Teardown = { teardown: (fn) => onCleanup(async () => void (await fn())) };
  const httpPort = await startTestNginx(asCleanups, { dataDir, mediaDir, apiPort });
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    async () => {
      if (api.process.exitCode !== null) throw new Error(`the api role exited: ${api.stderrTail()}`);
      return (await fetch(`${base}/api/health`).then((r) => r.status, () => 0)) === 200;
    },
    { what: 'GET /api/health through nginx', timeoutMs: 30_000, intervalMs: 250 },
  );
  say(`Started the api role (port ${apiPort}, output in ${apiLog}) behind nginx on port ${httpPort}.`);
  return { base, db, jwtSecret, apiPid: api.process.pid, apiLog };
}
type Stack = Awaited<ReturnType<typeof startStack>>;

/** OTHERS + 1 attendees with devices and tokens (the last one floods), the events, the live session. */
async function seed(stack: Stack) {
  const { db } = stack;
  const { rows: devices } = await db.query<{ device_id: string; user_id: string }>(
    `WITH u AS (INSERT INTO users (email, name, role)
       SELECT 'bench-flood-' || i || '@onair.local', 'Bench user ' || i, 'attendee' FROM generate_series(1, $1::int) AS i RETURNING id, email)
     INSERT INTO devices (user_id, user_agent, expires_at) SELECT id, 'bench:flood', now() + interval '1 day' FROM u ORDER BY email RETURNING id AS device_id, user_id`,
    [OTHERS + 1],
  );
  const { rows: events } = await db.query<{ id: string }>(
    `INSERT INTO events (title, description, starts_at, ends_at, status, visibility)
     SELECT 'Bench event ' || i, 'bench:flood', now() + (i - 1) * interval '1 day' - interval '1 hour', now() + (i - 1) * interval '1 day' + interval '3 hours', 'published', 'public'
     FROM generate_series(1, $1::int) AS i ORDER BY i RETURNING id`,
    [EVENTS],
  );
  const { rows: se } = await db.query<{ id: string }>(
    `INSERT INTO event_sessions (event_id, title, starts_at, ends_at) VALUES ($1, 'Main stage', now() - interval '30 minutes', now() + interval '2 hours') RETURNING id`,
    [events[0]!.id],
  );
  const tokens = createTokenService({ secret: stack.jwtSecret, expiresInSeconds: 3_600 });
  const signed = await Promise.all(devices.map(async (d) => ({ userId: d.user_id, token: await tokens.sign({ userId: d.user_id, deviceId: d.device_id }) })));
  return { sessionId: se[0]!.id, others: signed.slice(0, OTHERS), flooder: signed[OTHERS]! };
}

// ---- the others ------------------------------------------------------------------------------

interface Kind {
  latencies: number[];
  statuses: Record<string, number>;
}
interface PhaseFigures {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
}

function figures(k: Kind): PhaseFigures {
  const s = [...k.latencies].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? round(s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!, 1) : 0);
  return { requests: s.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1), statuses: k.statuses };
}

/** Every other user reads and chats at their pace for `seconds`; latency of each request in ms. */
async function others(base: string, users: { token: string }[], sessionId: string, seconds: number) {
  const read: Kind = { latencies: [], statuses: {} };
  const chat: Kind = { latencies: [], statuses: {} };
  const until = performance.now() + seconds * 1000;
  const loop = async (into: Kind, every: number, request: () => Promise<Response>) => {
    await sleep(Math.random() * every); // spread the users over the interval
    while (performance.now() < until && !isEnding()) {
      const t0 = performance.now();
      const status = await request().then(
        async (r) => (await r.arrayBuffer(), String(r.status)),
        () => 'error',
      );
      into.latencies.push(performance.now() - t0);
      into.statuses[status] = (into.statuses[status] ?? 0) + 1;
      await sleep(Math.max(0, every - (performance.now() - t0)));
    }
  };
  let n = 0;
  await Promise.all(
    users.flatMap((u) => {
      const headers = { authorization: `Bearer ${u.token}` };
      return [
        loop(read, READ_EVERY_MS, () => fetch(`${base}/api/events`, { headers, signal: AbortSignal.timeout(10_000) })),
        loop(chat, CHAT_EVERY_MS, () =>
          fetch(`${base}/api/chat/session/${sessionId}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ text: `hello ${n++}` }), signal: AbortSignal.timeout(10_000) }),
        ),
      ];
    }),
  );
  return { read: figures(read), chat: figures(chat) };
}

// ---- the bench -------------------------------------------------------------------------------

/** The most a fixed-window limit (with its burst reserve) can let through in any `seconds` (windows an interval of that length can touch). */
export function mostAllowed(l: RateLimit, seconds: number): number {
  return l.points * (Math.ceil(seconds / l.seconds) + 1) + (l.burst ? l.burst.points * (Math.ceil(seconds / l.burst.seconds) + 1) : 0);
}

const target = (base: number) => Math.max(2 * base, base + 50);

async function main(): Promise<void> {
  const limit = parseRateLimit(CHAT_LIMIT);
  if (!limit) throw new Error(`RATE_LIMIT_CHAT "${CHAT_LIMIT}" is not a limit (see the README's configuration table)`);
  const machine = machineInfo();
  const busyCpusBefore = await checkIdle();
  const { work, keep } = await benchWorkDir('flood');

  say(`bench:flood on ${machine.nproc} × ${machine.cpuModel}: ${OTHERS} users reading GET /api/events 5/s and chatting 2/s each, ${PHASE_S} s alone, then ${PHASE_S} s`);
  say(`  while one account posts chat over ${FLOOD_CONNECTIONS} REST connections and ${FLOOD_SOCKETS} WebSockets as fast as it can (chat limit ${CHAT_LIMIT}).`);
  const stack = await startStack(work);
  const { sessionId, others: users, flooder } = await seed(stack);
  say(`Seeded ${OTHERS + 1} attendees with tokens, ${EVENTS} published public events, a session live now.`);

  await others(stack.base, users, sessionId, WARMUP_S);
  const cpu0 = (await processCpuSeconds(stack.apiPid!)) ?? 0;
  const baseline = await others(stack.base, users, sessionId, PHASE_S);
  const cpu1 = (await processCpuSeconds(stack.apiPid!)) ?? 0;
  say(`  baseline: reads p99 ${baseline.read.p99Ms} ms (${baseline.read.requests}), chat p99 ${baseline.chat.p99Ms} ms (${baseline.chat.requests})`);
  await sleep(2_000);

  // the flooder's CPU is the attacker's, not the server's: on this shared box it runs at the lowest
  // priority (nice 19), so what is measured is what the flood costs the server
  const client = startIpcChild<FloodCommand>('flood-client', 'nice', ['-n', '19', process.execPath, path.join(APP_ROOT, 'dist', 'bench', 'flood-client.js')]);
  onCleanup(() => stopChild(client.child, 'SIGTERM', 2_000));
  const floodStart = new Date();
  const [flood, withFlood] = await Promise.all([
    client.ask<FloodReply>({ base: stack.base, token: flooder.token, sessionId, connections: FLOOD_CONNECTIONS, sockets: FLOOD_SOCKETS, seconds: PHASE_S }),
    others(stack.base, users, sessionId, PHASE_S),
  ]);
  const cpu2 = (await processCpuSeconds(stack.apiPid!)) ?? 0;
  say(`  flood:    reads p99 ${withFlood.read.p99Ms} ms (${withFlood.read.requests}), chat p99 ${withFlood.chat.p99Ms} ms (${withFlood.chat.requests})`);

  // accepted = saved; requests still in flight when the phase ended may be saved after it, so the
  // bound is taken over the span from the first saved message to the last
  const { rows } = await stack.db.query<{ n: number; span: number | null }>(
    `SELECT count(*)::int AS n, extract(epoch FROM max(created_at) - min(created_at))::float8 AS span FROM chat_messages WHERE user_id = $1 AND created_at >= $2`,
    [flooder.userId, floodStart],
  );
  const accepted = rows[0]!.n;
  const spanSeconds = round(rows[0]!.span ?? 0, 2);
  const allowed = mostAllowed(limit, spanSeconds);
  const nominal = (limit.burst?.points ?? 0) + limit.points + (limit.points / limit.seconds) * PHASE_S;
  const ratio = { read: round(withFlood.read.p99Ms / baseline.read.p99Ms, 2), chat: round(withFlood.chat.p99Ms / baseline.chat.p99Ms, 2) };
  const pass = {
    read: withFlood.read.p99Ms <= target(baseline.read.p99Ms),
    chat: withFlood.chat.p99Ms <= target(baseline.chat.p99Ms),
    flooderWithinLimit: accepted <= allowed,
  };
  const othersRefused = [baseline, withFlood].flatMap((p) => [p.read, p.chat]).reduce((n, k) => n + Object.entries(k.statuses).filter(([s]) => !/^2/.test(s)).reduce((m, [, c]) => m + c, 0), 0);
  say('');
  say(`  others' p99 with the flood / without: reads ${ratio.read} (${withFlood.read.p99Ms} / ${baseline.read.p99Ms} ms, target ≤ ${target(baseline.read.p99Ms)} ms), chat ${ratio.chat} (${withFlood.chat.p99Ms} / ${baseline.chat.p99Ms} ms, target ≤ ${target(baseline.chat.p99Ms)} ms)`);
  say(`  flooder: ${flood.rest.sent} REST requests (${flood.rest.reqPerSec}/s; ${JSON.stringify(flood.rest.statusCodes)}), ${flood.ws.sent} WebSocket frames (${flood.ws.acks} acks; ${JSON.stringify(flood.ws.errors)}) on ${flood.ws.connected} sockets (closed by the server: ${JSON.stringify(flood.ws.closedByServer)})`);
  say(`  flooder's accepted messages: ${accepted} (saved, over ${spanSeconds} s); its limit ${CHAT_LIMIT} allows at most ${allowed} in that span (burst + rate × phase = ${nominal})`);
  if (othersRefused > 0) say(`  WARNING: the other users got ${othersRefused} non-2xx answers (see statuses in the result).`);
  const apiLines = (await readFile(stack.apiLog, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '').length;
  const out = await writeResult('flood', {
    date: new Date().toISOString(),
    machine: { ...machine, busyCpusBefore },
    setup: `embedded Postgres and Redis, the api role (NODE_ENV=production) behind nginx from onair.conf.template; ${OTHERS} other users each GET /api/events every ${READ_EVERY_MS} ms and POST chat every ${CHAT_EVERY_MS} ms; the flooder (a child process) posts chat over ${FLOOD_CONNECTIONS} REST connections (autocannon) and ${FLOOD_SOCKETS} WebSockets (${20} frames per socket every 10 ms); phases of ${PHASE_S} s, baseline first`,
    chatLimit: { setting: CHAT_LIMIT, ...limit, burstPlusRateTimesPhase: nominal, acceptedSpanSeconds: spanSeconds, mostAllowedInSpan: allowed },
    baseline,
    withFlood,
    ratio,
    target: { read: target(baseline.read.p99Ms), chat: target(baseline.chat.p99Ms) },
    flooder: { acceptedMessages: accepted, rest: flood.rest, ws: flood.ws },
    apiCpus: { baseline: round((cpu1 - cpu0) / PHASE_S, 2), withFlood: round((cpu2 - cpu1) / PHASE_S, 2) },
    othersNon2xx: othersRefused,
    apiLogLines: apiLines,
    pass,
  });
  keep(apiLines > 0);
  say(`  results: ${out}`);
  say('');
  say(`bench:flood others' p99 ×${ratio.read} (reads), ×${ratio.chat} (chat) under the flood; flooder accepted ${accepted} of at most ${allowed}: ${pass.read && pass.chat && pass.flooderWithinLimit ? 'PASS' : 'FAIL'}`);
  if (!(pass.read && pass.chat && pass.flooderWithinLimit)) throw new Error(`a target was missed: ${JSON.stringify(pass)}`);
}

runBench('bench:flood', main, BENCH_DEADLINE_MS);
