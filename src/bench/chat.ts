// bench:chat: chat fan-out on two API nodes. 5,000 WebSocket clients in one live event session,
// half on each node (directly, no nginx), 20 of them sending 5 messages/s each for 30 s; every
// client should get every message. Reports the delivery ratio, delivery latency (p50/p99), CPU
// seconds and RSS of each api process; then the same clients against a bare `ws` broadcast
// server (chat-bare.ts: one process, no auth, no persistence) and our CPU per delivered message
// as a multiple of the bare server's.
//
// Setup: embedded Postgres and Redis, migrations, two `node dist/bin/api.js` (NODE_ENV=production,
// one DATABASE_URL/REDIS_URL/REDIS_PREFIX/JWT_SECRET), users and their devices inserted by SQL
// in bulk and tokens signed with the same JWT_SECRET, one published public event with a session
// live now and everyone an attendee. Clients live in child processes (chat-client.ts, a minimal
// WebSocket client each socket): one holds the senders, BENCH_CLIENT_PROCS hold the receivers.
// Latency is receive time − send time on CLOCK_MONOTONIC (shared by every process): the send
// time travels in the message text. CPU of a server is its user+system time from /proc over the
// window from the first send to the last delivery (or the drain giving up).
//
// The default is the issue's load (15 M deliveries in 30 s); a machine that cannot carry it gets
// it anyway, and the report says what happened (how much arrived, what was refused or dropped,
// what was still queued) and suggests a smaller run. Smaller runs (figures not comparable with
// the default): BENCH_CLIENTS, BENCH_SENDERS, BENCH_RATE (messages/s per sender, decimals
// allowed; our per-connection chat limit is 5/s), BENCH_DURATION (s), BENCH_CLIENT_PROCS,
// BENCH_CLIENT_NICE. On a 2-vCPU VM, `BENCH_RATE=0.2 npm run bench:chat` (the 5,000 clients and
// 20 senders, 4 messages/s in all, 20,000 deliveries/s) is delivered in full on both sides.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createPool } from '../db/pool.js';
import { createTokenService } from '../http/auth.js';
import { freePort } from '../local/processes.js';
import { APP_ROOT } from '../paths.js';
import { waitFor } from '../testing/harness.js';
import {
  HIST_BUCKETS,
  mergeHist,
  nowUs,
  percentileMs,
  type Command,
  type ConnectReply,
  type JoinReply,
  type Mode,
  type ProgressReply,
  type SendReply,
  type StatsReply,
  type Target,
} from './chat-shared.js';
import {

  benchInt,
  benchWorkDir,
  checkIdle,
  machineCpu,
  machineInfo,
  onCleanup,
  processCpuSeconds,
  processRssBytes,
  processTreeCpuSeconds,
  round,
  runBench,
  say,
  sleep,
  startBackingServices,
  startChild,
  startIpcChild,
  startNodeBin,
  stopChild,
  writeResult,
  type Child,
  type IpcChild,
} from './common.js';

const int = (name: string, fallback: number, min: number, max: number): number => benchInt('chat', { name, fallback, min, max });

function rate(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 5;
  const n = Number(raw);
  if (Number.isFinite(n) && n >= 0.01 && n <= 100) return n;
  say(`bench:chat: BENCH_RATE must be a number of messages per second per sender from 0.01 to 100, but it is "${raw}".`);
  process.exit(2);
}

const CLIENTS = int('BENCH_CLIENTS', 5_000, 2, 20_000);
const SENDERS = int('BENCH_SENDERS', 20, 1, Math.min(1_000, CLIENTS));
const RATE = rate(process.env.BENCH_RATE); // messages per second per sender
const DURATION_S = int('BENCH_DURATION', 30, 1, 600);
const CLIENT_PROCS = int('BENCH_CLIENT_PROCS', 4, 1, 32); // receiver processes, besides the sender process
const IS_DEFAULT = CLIENTS === 5_000 && SENDERS === 20 && RATE === 5 && DURATION_S === 30;
const PER_SENDER = Math.max(1, Math.round(RATE * DURATION_S));
// Receiver processes run at a lower priority (nice): where clients and servers compete for the
// same CPUs, the servers get them first, and a client that falls behind is what a slow viewer is.
const CLIENT_NICE = int('BENCH_CLIENT_NICE', 10, 0, 19);
const WARMUP_PER_SENDER = 3; // within the chat bucket's burst; also proves chat:send works
const CONNECT_CONCURRENCY = 50; // per client process
const JOIN_CONCURRENCY = 50;
const DRAIN_IDLE_S = 5; // no new delivery for this long: the rest is not coming
const DRAIN_MAX_S = 20; // after the last send; what has not arrived by then is reported as undelivered
const BENCH_DEADLINE_MS = 12 * 60_000;
const REDIS_PREFIX = 'benchchat';

const MB = 1024 * 1024;

// ---- client processes ------------------------------------------------------------------------

type ClientProc = IpcChild<Command>;

function startClientProc(name: string, nice: number): ClientProc {
  const script = path.join(APP_ROOT, 'dist', 'bench', 'chat-client.js');
  // nice(1) execs node: same pid, every thread at that priority, the IPC channel inherited
  const [cmd, args] = nice > 0 ? ['nice', ['-n', String(nice), process.execPath, script]] : [process.execPath, [script]];
  return startIpcChild<Command>(name, cmd, args);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const addCounts = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};
const fmtCounts = (r: Record<string, number>) => (Object.keys(r).length ? Object.entries(r).map(([k, v]) => `${k}×${v}`).join(', ') : 'none');
const pct = (x: number) => `${(x * 100).toFixed(x >= 0.9999 && x < 1 ? 4 : 2)}%`;

// ---- the stack -------------------------------------------------------------------------------

interface Server {
  name: string;
  pid: number;
  port: number;
  child: Child;
}

interface Stack {
  db: ReturnType<typeof createPool>;
  redisPid: number | undefined;
  postgresPid: number | undefined;
  apis: Server[];
  logDir: string;
  apiLogs: string[];
  jwtSecret: string;
}

async function startStack(work: string): Promise<Stack> {
  const dataDir = path.join(work, 'data');
  const { postgres, redis, db, logDir } = await startBackingServices(dataDir);

  const jwtSecret = randomBytes(32).toString('hex');
  const apis: Server[] = [];
  const apiLogs: string[] = [];
  for (const name of ['api-a', 'api-b']) {
    const port = await freePort();
    const log = path.join(logDir, `${name}.out`);
    // the api role as the shipped image runs it; both share Postgres, Redis, prefix and secret
    const child = startNodeBin(name, 'api', {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: postgres.url,
      REDIS_URL: redis.url,
      REDIS_PREFIX,
      JWT_SECRET: jwtSecret,
      PLAYBACK_SECRET: randomBytes(32).toString('hex'),
      PORT: String(port),
      DATA_DIR: dataDir,
      MEDIA_DIR: path.join(dataDir, 'media'),
      LOG_LEVEL: 'warn',
      INSTANCE_ID: `bench-${name}`,
      // senders send at exactly the per-user chat limit (5/s): the fan-out is measured here, the
      // limit in bench:flood, so a timer's jitter must not turn into refusals
      RATE_LIMIT_CHAT: '10/1s+10/10s',
    }, log);
    onCleanup(() => stopChild(child, 'SIGTERM', 10_000));
    if (child.process.pid === undefined) throw new Error(`${name} did not start: ${child.stderrTail()}`);
    apis.push({ name, pid: child.process.pid, port, child });
    apiLogs.push(log);
  }
  for (const api of apis) {
    await waitFor(
      async () => {
        if (api.child.process.exitCode !== null) throw new Error(`${api.name} exited: ${api.child.stderrTail()}`);
        const res = await fetch(`http://127.0.0.1:${api.port}/api/health`, { signal: AbortSignal.timeout(2_000) });
        return res.status === 200;
      },
      { what: `GET /api/health on ${api.name}`, timeoutMs: 30_000, intervalMs: 250 },
    );
  }
  say(`Started two api processes: ${apis.map((a) => `${a.name} on port ${a.port} (pid ${a.pid})`).join(', ')}; output in ${logDir}.`);
  return { db, redisPid: redis.process.child()?.pid, postgresPid: postgres.process.child()?.pid, apis, logDir, apiLogs, jwtSecret };
}

// ---- data: users with live devices, one live session everyone attends ----------------------

interface Seed {
  eventId: string;
  sessionId: string;
  tokens: string[]; // one per client, distinct users (the server allows 20 sockets per user)
}

async function seed(stack: Stack): Promise<Seed> {
  const t0 = performance.now();
  const db = stack.db;
  await db.query(
    `INSERT INTO users (email, name, role)
     SELECT 'bench-chat-' || lpad(i::text, 5, '0') || '@onair.local', 'Bench viewer ' || lpad(i::text, 5, '0'), 'attendee'
     FROM generate_series(1, $1::int) AS i`,
    [CLIENTS],
  );
  const { rows: devices } = await db.query<{ device_id: string; user_id: string }>(
    `INSERT INTO devices (user_id, user_agent, expires_at)
     SELECT id, 'bench:chat', now() + interval '1 day' FROM users WHERE email LIKE 'bench-chat-%' ORDER BY email
     RETURNING id AS device_id, user_id`,
  );
  if (devices.length !== CLIENTS) throw new Error(`expected ${CLIENTS} devices, inserted ${devices.length}`);
  const { rows: ev } = await db.query<{ id: string }>(
    `INSERT INTO events (title, description, starts_at, ends_at, status, visibility, attendee_count)
     VALUES ('Bench chat event', 'bench:chat', now() - interval '1 hour', now() + interval '3 hours', 'published', 'public', $1)
     RETURNING id`,
    [CLIENTS],
  );
  const eventId = ev[0]!.id;
  const { rows: se } = await db.query<{ id: string }>(
    `INSERT INTO event_sessions (event_id, title, starts_at, ends_at)
     VALUES ($1, 'Main stage', now() - interval '30 minutes', now() + interval '2 hours') RETURNING id`,
    [eventId],
  );
  const sessionId = se[0]!.id;
  await db.query(`INSERT INTO event_attendees (event_id, user_id) SELECT $1, id FROM users WHERE email LIKE 'bench-chat-%'`, [eventId]);
  const tokens = createTokenService({ secret: stack.jwtSecret, expiresInSeconds: 3_600 });
  const signed = await Promise.all(devices.map((d) => tokens.sign({ userId: d.user_id, deviceId: d.device_id })));
  say(`Seeded ${CLIENTS} attendees with live devices and tokens, one published public event with a session live now (${Math.round(performance.now() - t0)} ms).`);
  // a token is accepted by both nodes before thousands of sockets try
  for (const api of stack.apis) {
    const res = await fetch(`http://127.0.0.1:${api.port}/api/auth/me`, { headers: { authorization: `Bearer ${signed[0]}` }, signal: AbortSignal.timeout(5_000) });
    if (res.status !== 200) throw new Error(`GET /api/auth/me on ${api.name} with a bench token answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  }
  return { eventId, sessionId, tokens: signed };
}

// ---- one side --------------------------------------------------------------------------------

interface ServerFigures {
  name: string;
  pid: number;
  cpuSeconds: number;
  cpus: number; // cpuSeconds / window: near 1 means the process was the limit
  delivered: number; // to the clients connected to it
  cpuPerDeliveredUs: number | null;
  rssMB: { idle: number | null; connected: number | null; peak: number | null; end: number | null };
}

interface SideResult {
  measured: boolean;
  notMeasuredBecause?: string;
  clients: number;
  connected: number;
  refused: Record<string, number>;
  connectFailed: Record<string, number>;
  connectSeconds: number;
  joined?: number;
  joinErrors?: Record<string, number>;
  receivers: number;
  senders: number;
  sent?: number;
  /** Acked, or delivered to at least one client (an ack can trail its broadcast). */
  accepted?: number;
  deliveredBeforeAck?: number;
  /** Refused by id (sendErrors), refused unread without an id (errorsWithoutId), or no answer at all. */
  refusedById?: number;
  errorsWithoutId?: number;
  unanswered?: number;
  sendErrors?: Record<string, number>;
  firstSendError?: string | null;
  sendLagMs?: { max: number; mean: number };
  expectedDeliveries?: number;
  delivered?: number;
  deliveryRatio?: number;
  latencyMs?: { p50: number | null; p90: number | null; p99: number | null; p999: number | null; max: number; mean: number | null };
  perClient?: { min: number; max: number; complete: number };
  deliveriesPerSecond?: number;
  /** Messages per second the server took in over the window (ours: accepted; bare: relayed to anyone), against SENDERS × RATE offered. */
  acceptedPerSecond?: number;
  distinctOrders?: number;
  outOfOrder?: number;
  closedDuringRun?: Record<string, number>;
  firstCloseAfterS?: number | null;
  otherErrors?: Record<string, number>;
  otherFrames?: Record<string, number>;
  staleOrUntagged?: number;
  window?: { seconds: number; sendSeconds: number; drainSeconds: number; drainEnd: 'complete' | 'stalled' | 'timeout' };
  servers?: ServerFigures[];
  serverCpuSeconds?: number;
  cpuPerDeliveredUs?: number | null;
  support?: { redisCpuSeconds: number | null; postgresCpuSeconds: number | null };
  /**
   * Postgres sessions of the api processes sampled every 0.25 s during the run: mean number
   * waiting on a lock (sends queued on the session's chat row) and idle in a transaction (a
   * transaction open while its node does something else, e.g. a holder of that lock).
   */
  postgresSessions?: { samples: number; lockWaitingMean: number; idleInTransactionMean: number; samplesWithLockWaiters: number };
  clientCpuSeconds?: number;
  clientProcsMaxCpus?: number;
  machineBusyCpus?: number;
}

interface SideSpec {
  label: string;
  mode: Mode;
  servers: { name: string; pid: number; port: number }[];
  url(node: number, client: number): string;
  token?(client: number): string;
  sessionId: string;
  support?: { redisPid?: number; postgresPid?: number };
  /** Ours: Postgres, sampled during the run for sessions waiting on a lock or idle inside a transaction. */
  db?: ReturnType<typeof createPool>;
  idleRss: (number | null)[];
}

async function rssOf(pid: number) {
  const b = await processRssBytes(pid);
  return b === null ? null : round(b / MB, 1);
}

async function runSide(procs: ClientProc[], spec: SideSpec): Promise<SideResult> {
  const { label, mode } = spec;
  const nodes = spec.servers.length;
  const [senderProc, ...receiverProcs] = procs as [ClientProc, ...ClientProc[]];
  // client i: a sender when i < SENDERS (all in the sender process), node i % nodes
  const target = (i: number): Target => ({ idx: i, node: i % nodes, url: spec.url(i % nodes, i), ...(spec.token ? { token: spec.token(i) } : {}), sender: i < SENDERS ? i : -1 });
  const shares: Target[][] = [Array.from({ length: SENDERS }, (_, i) => target(i))];
  const receivers = CLIENTS - SENDERS;
  for (let p = 0; p < receiverProcs.length; p++) {
    const from = SENDERS + Math.floor((receivers * p) / receiverProcs.length);
    const to = SENDERS + Math.floor((receivers * (p + 1)) / receiverProcs.length);
    shares.push(Array.from({ length: to - from }, (_, k) => target(from + k)));
  }

  say(`\n[${label}] connecting ${CLIENTS} clients to ${spec.servers.map((s) => `${s.name} (:${s.port})`).join(' and ')} …`);
  const c = await Promise.all(procs.map((p, i) => p.ask<ConnectReply>({ cmd: 'connect', targets: shares[i]!, senders: SENDERS, concurrency: CONNECT_CONCURRENCY })));
  const connected = sum(c.map((r) => r.open));
  const refused: Record<string, number> = {};
  const connectFailed: Record<string, number> = {};
  for (const r of c) {
    addCounts(refused, r.refused);
    addCounts(connectFailed, r.failed);
  }
  const connectSeconds = round(Math.max(...c.map((r) => r.ms)) / 1000, 1);
  say(`[${label}] ${connected}/${CLIENTS} connected in ${connectSeconds} s; refused: ${fmtCounts(refused)}; failed: ${fmtCounts(connectFailed)}.`);
  const base: SideResult = { measured: false, clients: CLIENTS, connected, refused, connectFailed, connectSeconds, receivers: connected, senders: SENDERS };
  if (connected < CLIENTS) say(`[${label}] WARNING: ${CLIENTS - connected} clients could not connect; they count as receivers that got nothing.`);

  if (mode === 'ours') {
    const t0 = performance.now();
    const j = await Promise.all(procs.map((p) => p.ask<JoinReply>({ cmd: 'join', sessionId: spec.sessionId, concurrency: JOIN_CONCURRENCY })));
    base.joined = sum(j.map((r) => r.joined));
    base.joinErrors = {};
    for (const r of j) addCounts(base.joinErrors, r.errors);
    const timeouts = sum(j.map((r) => r.timeouts));
    if (timeouts) base.joinErrors.timeout = timeouts;
    say(`[${label}] ${base.joined}/${connected} joined the session in ${round((performance.now() - t0) / 1000, 1)} s; errors: ${fmtCounts(base.joinErrors)}${j.find((r) => r.firstError)?.firstError ? ` (first: ${j.find((r) => r.firstError)!.firstError})` : ''}.`);
    if (base.joined === 0) return { ...base, notMeasuredBecause: 'no client could join the session' };
  }
  // every client that connected (and joined) should receive every accepted message; those that did
  // not connect or join count too: the issue's 5,000 are the receivers
  base.receivers = CLIENTS;
  const connectedRss = await Promise.all(spec.servers.map((s) => rssOf(s.pid)));

  // warm-up: a few messages from every sender; proves chat:send works and fan-out reaches everyone
  await Promise.all(procs.map((p) => p.ask({ cmd: 'reset', run: 1, perSender: WARMUP_PER_SENDER })));
  const wu = await senderProc.ask<SendReply>({ cmd: 'send', mode, run: 1, sessionId: spec.sessionId, startUs: nowUs() + 100_000, perSender: WARMUP_PER_SENDER, rate: RATE });
  const inRoom = base.joined ?? connected;
  let warm: ProgressReply[] = [];
  const wuDeadline = Date.now() + 15_000;
  for (;;) {
    await sleep(250);
    warm = await Promise.all(procs.map((p) => p.ask<ProgressReply>({ cmd: 'progress' })));
    const accepted = mode === 'ours' ? warm[0]!.acks : wu.sent;
    const answered = mode === 'ours' ? warm[0]!.acks + warm[0]!.sendErrors + warm[0]!.errorsWithoutId : wu.sent;
    if ((answered >= wu.sent && sum(warm.map((w) => w.received)) >= accepted * inRoom) || Date.now() > wuDeadline) break;
  }
  const wuStats = await senderProc.ask<StatsReply>({ cmd: 'stats' });
  const wuAccepted = mode === 'ours' ? wuStats.acks : wu.sent;
  const wuDelivered = sum(warm.map((w) => w.received));
  say(`[${label}] warm-up: ${wu.sent} sent, ${wuAccepted} accepted, ${wuDelivered}/${wuAccepted * inRoom} delivered; send errors: ${fmtCounts(wuStats.sendErrors)}${wuStats.firstSendError ? ` (first: ${wuStats.firstSendError})` : ''}.`);
  if (wuAccepted === 0) {
    return { ...base, notMeasuredBecause: `chat:send was not accepted during the warm-up: ${wuStats.firstSendError ?? 'no ack, no error'}` };
  }

  // the measurement
  await Promise.all(procs.map((p) => p.ask({ cmd: 'reset', run: 2, perSender: PER_SENDER })));
  const cpu0 = await Promise.all(spec.servers.map((s) => processCpuSeconds(s.pid)));
  const redis0 = spec.support?.redisPid ? await processCpuSeconds(spec.support.redisPid) : null;
  const pg0 = spec.support?.postgresPid ? await processTreeCpuSeconds(spec.support.postgresPid) : null;
  const machine0 = await machineCpu();
  const peak: (number | null)[] = spec.servers.map(() => null);
  const sampleRss = async () => {
    const now = await Promise.all(spec.servers.map((s) => rssOf(s.pid)));
    now.forEach((v, i) => {
      if (v !== null && (peak[i] === null || v > peak[i]!)) peak[i] = v;
    });
  };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      await sampleRss();
      await sleep(500);
    }
  })();
  const pgSamples: { lockWaiting: number; idleInTx: number }[] = [];
  const pgSampler = (async () => {
    if (!spec.db) return;
    while (sampling) {
      const { rows } = await spec.db
        .query<{ lock_waiting: number; idle_in_tx: number }>(
          `SELECT count(*) FILTER (WHERE wait_event_type = 'Lock')::int AS lock_waiting,
                  count(*) FILTER (WHERE state = 'idle in transaction')::int AS idle_in_tx
           FROM pg_stat_activity WHERE datname = current_database() AND application_name <> 'onair-bench' AND pid <> pg_backend_pid()`,
        )
        .catch(() => ({ rows: [] as { lock_waiting: number; idle_in_tx: number }[] }));
      if (rows[0]) pgSamples.push({ lockWaiting: rows[0].lock_waiting, idleInTx: rows[0].idle_in_tx });
      await sleep(250);
    }
  })();
  const startUs = nowUs() + 500_000;
  const expectedTotal = SENDERS * PER_SENDER;
  say(`[${label}] measuring: ${SENDERS} senders × ${RATE} msg/s × ${DURATION_S} s = ${expectedTotal} messages to ${CLIENTS} clients (${(expectedTotal * CLIENTS).toLocaleString('en')} deliveries) …`);
  const sending = senderProc.ask<SendReply>({ cmd: 'send', mode, run: 2, sessionId: spec.sessionId, startUs, perSender: PER_SENDER, rate: RATE });
  let sendDone: SendReply | null = null;
  void sending.then((r) => (sendDone = r));
  let lastPrint = performance.now();
  while (sendDone === null) {
    await Promise.race([sending, sleep(1_000)]);
    if (performance.now() - lastPrint >= 5_000 && sendDone === null) {
      lastPrint = performance.now();
      const pr = await Promise.all(procs.map((p) => p.ask<ProgressReply>({ cmd: 'progress' })));
      say(`[${label}]   ${round((nowUs() - startUs) / 1e6, 0)} s: ${mode === 'ours' ? `${pr[0]!.acks} accepted, ` : ''}${sum(pr.map((x) => x.received)).toLocaleString('en')} delivered`);
    }
  }
  const sent: SendReply = await sending;
  const sendEndUs = nowUs();

  // drain: until every accepted message reached every client, or deliveries stop coming
  let last = -1;
  let lastChangeUs = nowUs();
  let drainEnd: 'complete' | 'stalled' | 'timeout' = 'complete';
  let progress: ProgressReply[] = [];
  for (;;) {
    progress = await Promise.all(procs.map((p) => p.ask<ProgressReply>({ cmd: 'progress' })));
    const delivered = sum(progress.map((x) => x.received));
    const accepted = mode === 'ours' ? progress[0]!.acks : sent.sent;
    const answered = mode === 'ours' ? progress[0]!.acks + progress[0]!.sendErrors + progress[0]!.errorsWithoutId : sent.sent;
    if (answered >= sent.sent && delivered >= accepted * CLIENTS) break;
    if (delivered !== last) {
      last = delivered;
      lastChangeUs = nowUs();
    } else if (nowUs() - lastChangeUs > DRAIN_IDLE_S * 1e6) {
      drainEnd = 'stalled';
      break;
    }
    if (nowUs() - sendEndUs > DRAIN_MAX_S * 1e6) {
      drainEnd = 'timeout';
      break;
    }
    await sleep(200);
  }
  const endUs = drainEnd === 'stalled' ? lastChangeUs : nowUs(); // a stalled drain's idle wait is not part of the work
  const cpu1 = await Promise.all(spec.servers.map((s) => processCpuSeconds(s.pid)));
  const redis1 = spec.support?.redisPid ? await processCpuSeconds(spec.support.redisPid) : null;
  const pg1 = spec.support?.postgresPid ? await processTreeCpuSeconds(spec.support.postgresPid) : null;
  const machine1 = await machineCpu();
  sampling = false;
  await sampler;
  await pgSampler;
  const endRss = await Promise.all(spec.servers.map((s) => rssOf(s.pid)));
  const windowS = (endUs - startUs) / 1e6;
  const measuredWallS = (nowUs() - startUs) / 1e6;

  const stats = await Promise.all(procs.map((p) => p.ask<StatsReply>({ cmd: 'stats' })));
  const hist = new Array<number>(HIST_BUCKETS).fill(0);
  const closes: Record<string, number> = {};
  const otherErrors: Record<string, number> = {};
  const otherFrames: Record<string, number> = {};
  const orders: Record<string, number> = {};
  for (const s of stats) {
    mergeHist(hist, s.hist);
    addCounts(closes, s.closes);
    addCounts(otherErrors, s.otherErrors);
    addCounts(otherFrames, s.otherFrames);
    addCounts(orders, s.orders);
  }
  const senderStats = stats[0]!;
  // which messages were accepted: acked (ours), or seen by any client (an ack may trail, and the bare peer acks nothing)
  const total = SENDERS * PER_SENDER;
  const seenAny = new Uint8Array(total);
  const ackedAny = new Uint8Array(total);
  const refusedAny = new Uint8Array(total);
  for (const st of stats) {
    for (const i of st.seen) seenAny[i] = 1;
    for (const i of st.acked) ackedAny[i] = 1;
    for (const i of st.refused) refusedAny[i] = 1;
  }
  let accepted = 0;
  let deliveredBeforeAck = 0;
  let refusedById = 0;
  let unanswered = 0;
  for (let i = 0; i < total; i++) {
    if (mode === 'bare' || ackedAny[i] || seenAny[i]) {
      accepted++;
      if (mode === 'ours' && seenAny[i] && !ackedAny[i]) deliveredBeforeAck++;
    } else if (refusedAny[i]) refusedById++;
    else unanswered++;
  }
  const errorsWithoutId = Object.values(senderStats.otherErrors).reduce((a, b) => a + b, 0);
  const delivered = sum(stats.map((s) => s.received));
  const expected = accepted * CLIENTS;
  let complete = 0;
  const completeOrders = new Set<string>();
  for (const [key, n] of Object.entries(orders)) {
    const [count, hash] = key.split(':') as [string, string];
    if (Number(count) === accepted && accepted > 0) {
      complete += n;
      completeOrders.add(hash);
    }
  }
  const latCount = sum(stats.map((s) => s.latCount));
  const byNode = spec.servers.map((_, n) => sum(stats.map((s) => s.receivedByNode[n] ?? 0)));
  const servers: ServerFigures[] = spec.servers.map((s, i) => {
    const cpu = cpu0[i] !== null && cpu1[i] !== null ? cpu1[i]! - cpu0[i]! : NaN;
    return {
      name: s.name,
      pid: s.pid,
      cpuSeconds: round(cpu, 2),
      cpus: round(cpu / windowS, 2),
      delivered: byNode[i]!,
      cpuPerDeliveredUs: byNode[i]! > 0 ? round((cpu / byNode[i]!) * 1e6, 3) : null,
      rssMB: { idle: spec.idleRss[i] ?? null, connected: connectedRss[i] ?? null, peak: peak[i] ?? null, end: endRss[i] ?? null },
    };
  });
  const serverCpu = sum(servers.map((s) => s.cpuSeconds));
  const clientCpu = sum(stats.map((s) => s.cpuSeconds));
  const result: SideResult = {
    ...base,
    measured: true,
    sent: sent.sent,
    accepted,
    deliveredBeforeAck,
    refusedById,
    errorsWithoutId,
    unanswered,
    sendErrors: senderStats.sendErrors,
    firstSendError: senderStats.firstSendError,
    sendLagMs: { max: round(sent.lagMaxMs, 1), mean: round(sent.lagMeanMs, 2) },
    expectedDeliveries: expected,
    delivered,
    deliveryRatio: expected > 0 ? delivered / expected : 0,
    latencyMs: {
      p50: percentileMs(hist, 0.5),
      p90: percentileMs(hist, 0.9),
      p99: percentileMs(hist, 0.99),
      p999: percentileMs(hist, 0.999),
      max: round(Math.max(...stats.map((s) => s.latMaxUs)) / 1000, 1),
      mean: latCount ? round(sum(stats.map((s) => s.latSumUs)) / latCount / 1000, 2) : null,
    },
    perClient: { min: Math.min(...stats.map((s) => s.perSocketMin)), max: Math.max(...stats.map((s) => s.perSocketMax)), complete },
    deliveriesPerSecond: Math.round(delivered / windowS),
    acceptedPerSecond: round((mode === 'ours' ? accepted : seenAny.reduce((a, b) => a + b, 0)) / windowS, 1),
    distinctOrders: completeOrders.size,
    outOfOrder: sum(stats.map((s) => s.outOfOrder)),
    closedDuringRun: closes,
    firstCloseAfterS: stats.map((s) => s.firstCloseAfterS).filter((x): x is number => x !== null).sort((a, b) => a - b)[0] ?? null,
    otherErrors,
    otherFrames,
    staleOrUntagged: sum(stats.map((s) => s.staleChat + s.untaggedChat)),
    window: { seconds: round(windowS, 2), sendSeconds: round((sendEndUs - startUs) / 1e6, 2), drainSeconds: round((endUs - sendEndUs) / 1e6, 2), drainEnd },
    servers,
    serverCpuSeconds: round(serverCpu, 2),
    cpuPerDeliveredUs: delivered > 0 ? round((serverCpu / delivered) * 1e6, 3) : null,
    support: {
      redisCpuSeconds: redis0 !== null && redis1 !== null ? round(redis1 - redis0, 2) : null,
      postgresCpuSeconds: pg0 !== null && pg1 !== null ? round(pg1 - pg0, 2) : null,
    },
    ...(spec.db
      ? {
          postgresSessions: {
            samples: pgSamples.length,
            lockWaitingMean: round(sum(pgSamples.map((x) => x.lockWaiting)) / Math.max(1, pgSamples.length), 2),
            idleInTransactionMean: round(sum(pgSamples.map((x) => x.idleInTx)) / Math.max(1, pgSamples.length), 2),
            samplesWithLockWaiters: pgSamples.filter((x) => x.lockWaiting > 0).length,
          },
        }
      : {}),
    clientCpuSeconds: round(clientCpu, 2),
    clientProcsMaxCpus: round(Math.max(...stats.map((s) => s.cpuSeconds)) / measuredWallS, 2),
    machineBusyCpus: round((machine1.busySeconds - machine0.busySeconds) / ((nowUs() - startUs) / 1e6), 2),
  };
  describeSide(label, result);
  say(`[${label}] closing the clients …`);
  await Promise.all(procs.map((p) => p.ask({ cmd: 'close' })));
  return result;
}

function describeSide(label: string, r: SideResult): void {
  if (!r.measured) return void say(`[${label}] NOT MEASURED: ${r.notMeasuredBecause}`);
  const l = r.latencyMs!;
  say(
    `[${label}] sent ${r.sent}, accepted ${r.accepted}${r.deliveredBeforeAck ? ` (${r.deliveredBeforeAck} delivered before their ack)` : ''}, refused by id ${r.refusedById} (${fmtCounts(r.sendErrors!)}), ` +
      `errors without an id ${r.errorsWithoutId}, no answer ${Math.max(0, r.unanswered! - r.errorsWithoutId!)}; send lag max ${r.sendLagMs!.max} ms`,
  );
  say(
    `[${label}] delivered ${r.delivered!.toLocaleString('en')} of ${r.expectedDeliveries!.toLocaleString('en')} = ${pct(r.deliveryRatio!)} (${r.deliveriesPerSecond!.toLocaleString('en')}/s); ` +
      `${r.acceptedPerSecond} msg/s ${label === 'bare' ? 'relayed' : 'accepted'}; per client ${r.perClient!.min}…${r.perClient!.max} (complete: ${r.perClient!.complete}/${r.clients})`,
  );
  say(`[${label}] latency p50 ${l.p50} ms, p90 ${l.p90} ms, p99 ${l.p99} ms, p99.9 ${l.p999} ms, max ${l.max} ms, mean ${l.mean} ms`);
  say(`[${label}] window ${r.window!.seconds} s (sending ${r.window!.sendSeconds} s, drain ${r.window!.drainSeconds} s${r.window!.drainEnd === 'stalled' ? `, STALLED: deliveries stopped for ${DRAIN_IDLE_S} s before all arrived` : r.window!.drainEnd === 'timeout' ? `, GAVE UP ${DRAIN_MAX_S} s after the last send with deliveries still arriving` : ''})`);
  for (const s of r.servers!) {
    say(
      `[${label}]   ${s.name.padEnd(6)} CPU ${s.cpuSeconds} s (${s.cpus} CPUs), delivered ${s.delivered.toLocaleString('en')}, ${s.cpuPerDeliveredUs ?? '—'} µs CPU/delivery; ` +
        `RSS idle ${s.rssMB.idle ?? '—'} MB, connected ${s.rssMB.connected ?? '—'} MB, peak ${s.rssMB.peak ?? '—'} MB, end ${s.rssMB.end ?? '—'} MB`,
    );
  }
  if (r.support?.redisCpuSeconds !== null && r.support?.redisCpuSeconds !== undefined) say(`[${label}]   redis CPU ${r.support.redisCpuSeconds} s, postgres CPU ${r.support.postgresCpuSeconds} s`);
  if (r.postgresSessions) {
    const p = r.postgresSessions;
    say(`[${label}]   postgres sessions (${p.samples} samples): on average ${p.lockWaitingMean} waiting on a lock (in ${p.samplesWithLockWaiters} samples), ${p.idleInTransactionMean} idle in a transaction`);
  }
  say(`[${label}]   clients CPU ${r.clientCpuSeconds} s (busiest client process ${r.clientProcsMaxCpus} CPUs); machine ${r.machineBusyCpus} CPUs busy`);
  say(`[${label}] one order on every complete client: ${r.distinctOrders === 1 ? 'yes' : r.distinctOrders === 0 ? 'no complete client' : `NO (${r.distinctOrders} orders)`}; out-of-order per sender: ${r.outOfOrder}`);
  say(`[${label}] closed during the run: ${fmtCounts(r.closedDuringRun!)}${r.firstCloseAfterS !== null ? ` (first after ${round(r.firstCloseAfterS!, 1)} s)` : ''}; other errors: ${fmtCounts(r.otherErrors!)}; other frames: ${fmtCounts(r.otherFrames!)}`);
}

// ---- what happened, when not everything arrived ------------------------------------------------

const CLOSE_MEANING: Record<string, string> = {
  '4008': 'closed by the server as too slow (send buffer over its limit: backpressure)',
  '1006': 'connection lost without a close frame (e.g. missed heartbeat)',
  '4401': 'closed as signed out',
  '1001': 'closed by a server shutting down',
};

function diagnose(label: string, r: SideResult): string[] {
  if (!r.measured || r.deliveryRatio === undefined) return [];
  const out: string[] = [];
  const offered = SENDERS * RATE * CLIENTS;
  if (r.deliveryRatio < 1) {
    const missing = r.expectedDeliveries! - r.delivered!;
    out.push(
      `${label}: ${missing.toLocaleString('en')} deliveries of accepted messages did not arrive within ${DRAIN_MAX_S} s of the last send ` +
        `(offered ${Math.round(offered).toLocaleString('en')} deliveries/s, achieved ${r.deliveriesPerSecond!.toLocaleString('en')}/s).`,
    );
  }
  const closed = Object.entries(r.closedDuringRun ?? {});
  for (const [code, n] of closed) out.push(`${label}: ${n} client(s) ${CLOSE_MEANING[code] ?? `closed with code ${code}`} (code ${code}); the first after ${round(r.firstCloseAfterS ?? 0, 1)} s.`);
  if (r.deliveryRatio < 1 && closed.length === 0) {
    out.push(`${label}: no client was closed or dropped: what is missing was still queued (${label === 'bare' ? 'in the server or socket buffers' : 'in the api processes, Redis or socket buffers'}) when we stopped waiting.`);
  }
  if (r.acceptedPerSecond! < 0.95 * SENDERS * RATE) out.push(`${label}: ${label === 'bare' ? 'relayed' : 'accepted'} ${r.acceptedPerSecond} messages/s of the ${SENDERS * RATE} offered.`);
  const idle = (r.servers ?? []).filter((sv) => sv.cpus < 0.7);
  if (r.deliveryRatio < 1 && idle.length > 0 && idle.length === r.servers!.length) {
    out.push(`${label}: ${idle.map((sv) => `${sv.name} used ${sv.cpus} CPUs`).join(', ')}: not CPU-bound, so the limit was elsewhere (CPU taken by others on this machine, or waiting inside the send path).`);
  }
  if (r.postgresSessions && r.postgresSessions.lockWaitingMean >= 1) {
    const p = r.postgresSessions;
    out.push(
      `${label}: Postgres had on average ${p.lockWaitingMean} sessions waiting on a lock (in ${p.samplesWithLockWaiters} of ${p.samples} samples) and ${p.idleInTransactionMean} idle in a transaction: ` +
        'sends queue on a lock (the session\'s chat row) whose holder waits on its node.',
    );
  }
  if (r.errorsWithoutId) out.push(`${label}: ${r.errorsWithoutId} chat:send frame(s) were refused with an error that carries no id (${fmtCounts(r.otherErrors ?? {})}), so the sender cannot tell which message was refused.`);
  if (r.refusedById) out.push(`${label}: ${r.refusedById} chat:send frame(s) were refused (${fmtCounts(r.sendErrors ?? {})}); first: ${r.firstSendError}.`);
  const silent = Math.max(0, (r.unanswered ?? 0) - (r.errorsWithoutId ?? 0));
  if (silent) out.push(`${label}: ${silent} chat:send frame(s) had no answer (no ack, no error, not delivered) by the end.`);
  if (r.distinctOrders !== undefined && r.distinctOrders > 1) out.push(`${label}: complete clients saw ${r.distinctOrders} different orders.`);
  if (r.outOfOrder) out.push(`${label}: ${r.outOfOrder} message(s) arrived before an earlier one of the same sender, or twice.`);
  return out;
}

/** A per-sender rate (1, 2 or 5 × 10^k) at which messages and deliveries fit in half of what this run achieved. */
function smallerRate(r: SideResult): number {
  const target = Math.min((0.5 * r.deliveriesPerSecond!) / (SENDERS * CLIENTS), (0.5 * r.acceptedPerSecond!) / SENDERS);
  const exp = Math.floor(Math.log10(target));
  const steps = [5, 2, 1].map((m) => m * 10 ** exp);
  return Math.max(0.01, Number((steps.find((v) => v <= target) ?? 10 ** exp).toPrecision(1)));
}

// ---- the bench -------------------------------------------------------------------------------

async function main(): Promise<void> {
  const machine = machineInfo();
  const busyCpusBefore = await checkIdle();
  const { work, keep } = await benchWorkDir('chat');

  say(`bench:chat on ${machine.nproc} × ${machine.cpuModel}: ${CLIENTS} WebSocket clients in one session over two api nodes, ${SENDERS} senders × ${RATE} msg/s × ${DURATION_S} s;`);
  say(`  then the same clients against a bare ws broadcast server (one process). Clients: 1 sender process + ${CLIENT_PROCS} receiver processes.`);
  if (!IS_DEFAULT) say('  NOTE: not the issue\'s configuration (5,000 clients, 20 senders, 5 msg/s, 30 s): figures are not comparable.');
  if (RATE > 5) say(`  NOTE: BENCH_RATE ${RATE} is over our per-connection chat limit (5/s, burst 10): expect rate_limited errors.`);

  const stack = await startStack(work);
  const idleRss = await Promise.all(stack.apis.map((a) => rssOf(a.pid)));
  const data = await seed(stack);

  const procs = [startClientProc('chat-senders', 0), ...Array.from({ length: CLIENT_PROCS }, (_, i) => startClientProc(`chat-clients-${i + 1}`, CLIENT_NICE))];
  for (const p of procs) onCleanup(() => stopChild(p.child, 'SIGTERM', 3_000));

  // ours
  const ours = await runSide(procs, {
    label: 'ours',
    mode: 'ours',
    servers: stack.apis,
    url: (node) => `ws://127.0.0.1:${stack.apis[node]!.port}/ws`,
    token: (client) => data.tokens[client]!,
    sessionId: data.sessionId,
    support: { redisPid: stack.redisPid, postgresPid: stack.postgresPid },
    db: stack.db,
    idleRss,
  });
  const apiLogLines = (await Promise.all(stack.apiLogs.map((f) => readFile(f, 'utf8').catch(() => '')))).map((t) => t.split('\n').filter((l) => l.trim() !== ''));
  const warnLines = apiLogLines.reduce((a, l) => a + l.length, 0);
  if (warnLines > 0) {
    say(`[ours] the api processes wrote ${warnLines} warning/error line(s): see ${stack.logDir}. First: ${apiLogLines.flat()[0]!.slice(0, 300)}`);
  }
  for (const api of stack.apis) await stopChild(api.child, 'SIGTERM', 10_000);

  // bare
  const barePort = await freePort();
  const bareChild = startChild('chat-bare', process.execPath, [path.join(APP_ROOT, 'dist', 'bench', 'chat-bare.js')], { cwd: APP_ROOT, env: { ...process.env, PORT: String(barePort) } });
  onCleanup(() => stopChild(bareChild, 'SIGTERM', 3_000));
  await waitFor(
    async () => {
      if (bareChild.process.exitCode !== null) throw new Error(`the bare server exited: ${bareChild.stderrTail()}`);
      const res = await fetch(`http://127.0.0.1:${barePort}/`, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
      return res !== null; // ws answers 426 to plain HTTP
    },
    { what: 'the bare ws server', timeoutMs: 10_000, intervalMs: 100 },
  );
  const barePid = bareChild.process.pid!;
  const bare = await runSide(procs, {
    label: 'bare',
    mode: 'bare',
    servers: [{ name: 'bare', pid: barePid, port: barePort }],
    url: () => `ws://127.0.0.1:${barePort}/`,
    sessionId: data.sessionId,
    idleRss: [await rssOf(barePid)],
  });
  await stopChild(bareChild, 'SIGTERM', 3_000);

  const ratio = ours.measured && bare.measured && ours.cpuPerDeliveredUs && bare.cpuPerDeliveredUs ? round(ours.cpuPerDeliveredUs / bare.cpuPerDeliveredUs, 2) : null;
  const withSupport =
    ours.measured && bare.measured && ours.delivered && bare.cpuPerDeliveredUs
      ? round((((ours.serverCpuSeconds ?? 0) + (ours.support?.redisCpuSeconds ?? 0) + (ours.support?.postgresCpuSeconds ?? 0)) / ours.delivered) * 1e6 / bare.cpuPerDeliveredUs, 2)
      : null;

  const short = [ours, bare].filter((r) => r.measured && r.deliveryRatio! < 1);
  const suggestion = short.length ? `BENCH_RATE=${Math.min(...short.map(smallerRate))}` : null;
  const out = await writeResult('chat', {
    date: new Date().toISOString(),
    machine: { ...machine, busyCpusBefore },
    config: { clients: CLIENTS, senders: SENDERS, ratePerSender: RATE, durationSeconds: DURATION_S, clientProcesses: 1 + CLIENT_PROCS, issueDefault: IS_DEFAULT },
    setup:
      'embedded Postgres and Redis, migrations, two api processes (node dist/bin/api.js, NODE_ENV=production, same DATABASE_URL/REDIS_URL/REDIS_PREFIX/JWT_SECRET) on two ports, clients connected directly (no nginx), half on each; ' +
      'users, devices, one published public event with a session live now and its attendees inserted by SQL; tokens signed with the api JWT_SECRET; every client sends session:join',
    peer: 'a bare ws 8 broadcast server in its own process (src/bench/chat-bare.ts): no auth, no persistence, no Redis, no backpressure; relays each received frame buffer to every open socket; the senders send it a chat:message frame of the same shape and size as ours',
    method:
      'clients: our own minimal RFC 6455 client (src/bench/chat-client.ts) in 1 sender + N receiver processes; senders interleave evenly; ours: chat:send with an id, accepted = acked; ' +
      'delivery ratio = chat:message frames of the run received / (accepted × clients); latency = receive − send time on CLOCK_MONOTONIC, carried in the text, per read (10 µs buckets < 10 ms, 1 ms < 1 s); ' +
      'server CPU = user+sys from /proc/<pid>/stat over [first send, last delivery]; RSS = VmRSS sampled every 0.5 s; CPU per delivery = server CPU / deliveries; ratio = ours (both api processes) / bare',
    ours,
    bare,
    ratio: { cpuPerDelivery: ratio, cpuPerDeliveryWithRedisAndPostgres: withSupport },
    diagnosis: [...diagnose('ours', ours), ...diagnose('bare', bare)],
    smallerRunThatShouldFit: suggestion,
    apiLogLines: warnLines,
  });
  keep(warnLines > 0);

  say('');
  say(`  results: ${out}`);
  if (ours.measured) {
    say(
      `bench:chat ours: ${pct(ours.deliveryRatio!)} delivered, p50 ${ours.latencyMs!.p50} ms, p99 ${ours.latencyMs!.p99} ms; ` +
        ours.servers!.map((s) => `${s.name} ${s.cpuSeconds} CPU-s, peak RSS ${s.rssMB.peak} MB`).join('; '),
    );
  } else say(`bench:chat ours: NOT MEASURED (${ours.notMeasuredBecause})`);
  if (bare.measured) {
    say(`bench:chat bare: ${pct(bare.deliveryRatio!)} delivered, p50 ${bare.latencyMs!.p50} ms, p99 ${bare.latencyMs!.p99} ms; ${bare.servers![0]!.cpuSeconds} CPU-s, peak RSS ${bare.servers![0]!.rssMB.peak} MB`);
  } else say(`bench:chat bare: NOT MEASURED (${bare.notMeasuredBecause})`);
  if (ratio !== null) say(`bench:chat CPU per delivered message: ours ${ours.cpuPerDeliveredUs} µs = ${ratio} × bare (${bare.cpuPerDeliveredUs} µs); with Redis and Postgres: ${withSupport} ×`);

  const notes = [...diagnose('ours', ours), ...diagnose('bare', bare)];
  for (const n of notes) say(`  ${n}`);
  if (suggestion) say(`  This machine cannot carry the configured load. A smaller run it should carry: ${suggestion} npm run bench:chat`);

  const problems: string[] = [];
  if (!ours.measured) problems.push(`our side was not measured: ${ours.notMeasuredBecause}`);
  else if (ours.deliveryRatio! < 1) problems.push(`our delivery ratio is ${pct(ours.deliveryRatio!)}, not 100%`);
  if (!bare.measured) problems.push(`the bare side was not measured: ${bare.notMeasuredBecause}`);
  if (problems.length) throw new Error(`${problems.join('; ')} (the result was written to ${out} for the record)`);
}

runBench('bench:chat', main, BENCH_DEADLINE_MS);
