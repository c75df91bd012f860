// bench:viewers: HLS viewer analytics under load. 2,000 simulated HLS viewers through our nginx
// on a live stream: the viewer count the API reports against the true count (target ratio
// 1.00 ± 0.02), and nginx CPU seconds per Gb served with analytics on (per-viewer token URLs,
// secure_link check, one line per request into a buffered viewer-line file that the nginx role
// forwards to the api node) against off (a second nginx rendered without a playback secret, plain
// URLs, nothing logged for analytics) in the same run (target ≤ 1.10). The nginx role process
// (the forwarder) is measured beside nginx, not in its figure.
//
// Setup: embedded Postgres and Redis, migrations, the api, ingest and worker roles
// (node dist/bin/<role>.js, NODE_ENV=production, ANALYTICS_ROLLUP_EVERY=5s), two nginx roles
// (node dist/bin/nginx.js: nginx/onair.conf.template, nginx in the foreground) over one media dir
// (ON with the playback secret and the viewer-line forwarder, OFF with PLAYBACK_TOKENS=off), a real ffmpeg test-pattern publish over RTMP transcoded by the worker. 2,000
// attendees, their devices, an admin, one published event live now with a session on that
// stream, everyone joined: inserted by SQL; JWTs signed with the api's secret. Every viewer's
// URL comes from GET /api/sessions/:id with its own JWT (through nginx), as a player gets it.
//
// Viewers run in BENCH_CLIENT_PROCS child processes (this file with --viewer-client): fetch the
// master playlist, take the lowest-bandwidth variant, then every target duration (jittered
// start) fetch the variant playlist and the segments not fetched before. Phases alternate ON
// and OFF (BENCH_ROUNDS × 2 phases of BENCH_PHASE_S s). nginx CPU = user+system of the master
// and its workers from /proc over each phase's measured window; bytes = body bytes the clients
// received in that window (cross-checked against nginx's access logs). During ON phases, after
// a 25 s warm-up, every 5 s: currentViewers from GET /api/analytics/sessions/:id (as admin)
// against the viewers whose player had a successful request in the last 20 s.
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { createTokenService } from '../http/auth.js';
import { freePort } from '../local/processes.js';
import { APP_ROOT } from '../paths.js';
import { waitFor } from '../testing/harness.js';
import {

  benchInt,
  benchWorkDir,
  checkIdle,
  machineCpu,
  machineInfo,
  median,
  onCleanup,
  processCpuSeconds,
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

const CHILD_FLAG = '--viewer-client';
const intEnv = (name: string, fallback: number, min: number, max: number): number => benchInt('viewers', { name, fallback, min, max });

const VIEWERS = intEnv('BENCH_VIEWERS', 2_000, 1, 20_000);
const PHASE_S = intEnv('BENCH_PHASE_S', 60, 20, 600);
const ROUNDS = intEnv('BENCH_ROUNDS', 5, 1, 10);
const CLIENT_PROCS = intEnv('BENCH_CLIENT_PROCS', 2, 1, 8);
const WARMUP_S = Math.min(25, PHASE_S - 5); // count samples start here (every viewer has fetched)
const SETTLE_S = 5; // CPU/bytes window starts this long after a phase starts (connections, masters)
const SAMPLE_EVERY_S = 5;
const WINDOW_MS = 20_000; // the api's VIEWER_WINDOW_MS
const SOURCE = { width: 640, height: 360, fps: 25, videoKbps: 500 };
const IS_DEFAULT = VIEWERS === 2_000 && PHASE_S === 60;
const BENCH_DEADLINE_MS = 25 * 60_000;

// ---- the simulated players (child process) ---------------------------------------------------

type ClientCmd =
  | { cmd: 'start'; urls: string[] }
  | { cmd: 'stop' }
  | { cmd: 'snapshot' }
  | { cmd: 'count'; at: number };

interface Snapshot {
  bytes: number;
  segmentBytes: number;
  requests: number;
  okRequests: number;
  segments: number;
  playlists: number;
  errors: Record<string, number>;
  everOk: number;
  cpuSeconds: number;
}

function clientMain(): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4_096, maxFreeSockets: 4_096 });
  let gen = 0;
  let running: Promise<void>[] = [];
  let lastOk: number[] = [];
  let everOk: boolean[] = [];
  const s = { bytes: 0, segmentBytes: 0, requests: 0, okRequests: 0, segments: 0, playlists: 0, errors: {} as Record<string, number> };
  const err = (k: string) => void (s.errors[k] = (s.errors[k] ?? 0) + 1);

  function get(url: URL, keepBody: boolean): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          s.bytes += c.length;
          if (keepBody) chunks.push(c);
          else s.segmentBytes += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: keepBody ? Buffer.concat(chunks).toString('utf8') : '' }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }

  async function fetchOk(i: number, url: URL, keepBody: boolean): Promise<string | null> {
    s.requests++;
    try {
      const r = await get(url, keepBody);
      if (r.status >= 200 && r.status < 300) {
        s.okRequests++;
        lastOk[i] = Date.now();
        everOk[i] = true;
        return r.body;
      }
      err(`http ${r.status}`);
    } catch (e) {
      err((e as NodeJS.ErrnoException).code ?? (e as Error).message);
    }
    return null;
  }

  async function viewer(i: number, master: URL, myGen: number): Promise<void> {
    await sleep(Math.random() * 2_000); // players do not start in lockstep
    let variant: URL | null = null;
    const seen: string[] = [];
    while (myGen === gen) {
      const t0 = Date.now();
      let target = 2;
      if (variant === null) {
        const text = await fetchOk(i, master, true);
        s.playlists++;
        if (text !== null) {
          // the lowest-bandwidth variant
          let best: { bw: number; uri: string } | null = null;
          const lines = text.split('\n').map((l) => l.trim());
          for (let k = 0; k < lines.length; k++) {
            const m = /^#EXT-X-STREAM-INF:.*?BANDWIDTH=(\d+)/.exec(lines[k]!);
            if (!m) continue;
            const uri = lines.slice(k + 1).find((l) => l !== '' && !l.startsWith('#'));
            if (uri && (!best || Number(m[1]) < best.bw)) best = { bw: Number(m[1]), uri };
          }
          if (best) variant = new URL(best.uri, master);
          else err('master without variants');
        }
        if (variant === null) {
          await sleep(1_000);
          continue;
        }
      }
      const text = await fetchOk(i, variant, true);
      s.playlists++;
      if (text !== null) {
        const td = /#EXT-X-TARGETDURATION:(\d+(?:\.\d+)?)/.exec(text);
        if (td) target = Number(td[1]);
        const segs = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
        // a live player starts near the live edge: the newest segment first, then every new one
        const fresh = seen.length === 0 ? segs.slice(-1) : segs.filter((x) => !seen.includes(x));
        for (const seg of fresh) {
          if (myGen !== gen) break;
          const body = await fetchOk(i, new URL(seg, variant), false);
          s.segments++;
          if (body !== null) {
            seen.push(seg);
            if (seen.length > 30) seen.shift();
          }
        }
      }
      const wait = target * 1000 * (0.9 + Math.random() * 0.2) - (Date.now() - t0);
      await sleep(Math.max(200, wait));
    }
  }

  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };

  const handle = async (c: ClientCmd): Promise<unknown> => {
    switch (c.cmd) {
      case 'start': {
        gen++;
        lastOk = c.urls.map(() => 0);
        everOk = c.urls.map(() => false);
        const myGen = gen;
        running = c.urls.map((u, i) => viewer(i, new URL(u), myGen));
        return { started: c.urls.length };
      }
      case 'stop': {
        gen++;
        await Promise.all(running);
        running = [];
        return { stopped: true };
      }
      case 'snapshot': {
        const snap: Snapshot = { ...s, errors: { ...s.errors }, everOk: everOk.filter(Boolean).length, cpuSeconds: cpuNow() };
        return snap;
      }
      case 'count':
        return { watching: lastOk.filter((t) => t > 0 && t >= c.at - WINDOW_MS).length };
    }
  };
  process.on('message', (m: { rid: number; command: ClientCmd }) => {
    handle(m.command).then(
      (reply) => process.send!({ rid: m.rid, reply }),
      (e: unknown) => process.send!({ rid: m.rid, error: e instanceof Error ? e.message : String(e) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}

type ClientProc = IpcChild<ClientCmd>;

function startClientProc(name: string): ClientProc {
  return startIpcChild<ClientCmd>(name, process.execPath, [path.join(APP_ROOT, 'dist', 'bench', 'viewers.js'), CHILD_FLAG]);
}

// ---- helpers ---------------------------------------------------------------------------------

async function call(base: string, route: string, o: { token?: string; method?: string; body?: unknown } = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`${base}${route}`, {
    method: o.method ?? 'GET',
    headers: { ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) },
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, text: await res.text() };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const addCounts = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  return into;
};
const diffCounts = (a: Record<string, number>, b: Record<string, number>) => {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) > 0) out[k] = v - (a[k] ?? 0);
  return out;
};
const fmtCounts = (r: Record<string, number>) => (Object.keys(r).length ? Object.entries(r).map(([k, v]) => `${k}×${v}`).join(', ') : 'none');

async function logBytes(file: string): Promise<number> {
  return (await stat(file).catch(() => null))?.size ?? 0;
}

/** HLS requests, their $body_bytes_sent and statuses in the access log bytes [from, to) (both our log formats). */
async function accessLogBodyBytes(file: string, from: number, to: number): Promise<{ lines: number; bytes: number; segmentLines: number; segmentBytes: number; statuses: Record<string, number> }> {
  const text = (await readFile(file).catch(() => Buffer.alloc(0))).subarray(from, to).toString('utf8');
  let lines = 0;
  let bytes = 0;
  let segmentLines = 0;
  let segmentBytes = 0;
  const statuses: Record<string, number> = {};
  for (const l of text.split('\n')) {
    const m = /"[A-Z]+ (\S+)[^"]*" (\d{3}) (\d+) "/.exec(l);
    if (!m || !m[1]!.startsWith('/hls/')) continue;
    lines++;
    bytes += Number(m[3]);
    statuses[m[2]!] = (statuses[m[2]!] ?? 0) + 1;
    if (/\.(ts|m4s|mp4)$/.test(m[1]!)) {
      segmentLines++;
      segmentBytes += Number(m[3]);
    }
  }
  return { lines, bytes, segmentLines, segmentBytes, statuses };
}

/** Machine-wide UDP counters (/proc/net/snmp): datagrams received, and those dropped on receive. */
async function udpCounters(): Promise<{ inDatagrams: number; inErrors: number; rcvbufErrors: number }> {
  const text = await readFile('/proc/net/snmp', 'utf8').catch(() => '');
  const rows = text.split('\n').filter((l) => l.startsWith('Udp:'));
  if (rows.length < 2) return { inDatagrams: 0, inErrors: 0, rcvbufErrors: 0 };
  const names = rows[0]!.split(/\s+/);
  const vals = rows[1]!.split(/\s+/).map(Number);
  const get = (n: string) => vals[names.indexOf(n)] ?? 0;
  return { inDatagrams: get('InDatagrams'), inErrors: get('InErrors'), rcvbufErrors: get('RcvbufErrors') };
}

// ---- the bench -------------------------------------------------------------------------------

interface PhaseResult {
  name: string;
  analytics: 'on' | 'off';
  windowSeconds: number;
  nginxCpuSeconds: number;
  nginxCpus: number;
  clientBytes: number;
  gigabits: number;
  cpuSecondsPerGb: number | null;
  nginxLogBodyBytes: number;
  nginxLogLines: number;
  nginxLogSegments: number;
  nginxLogSegmentBytes: number;
  nginxLogStatuses: Record<string, number>;
  clientSegments: number;
  clientSegmentBytes: number;
  requests: number;
  requestsPerSecond: number;
  segmentsPerSecond: number;
  errors: Record<string, number>;
  viewersWithASuccess: number;
  apiCpuSeconds: number | null;
  /** The nginx role process (node): the viewer-line forwarder with tokens on, idle with them off. */
  forwarderCpuSeconds: number | null;
  udp: { inDatagrams: number; inErrors: number; rcvbufErrors: number };
  clientCpuSeconds: number;
  machineBusyCpus: number;
  countSamples: { at: string; reported: number; truth: number; ratio: number | null }[];
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const busyCpusBefore = await checkIdle();
  const { work, keep } = await benchWorkDir('viewers');
  const started = performance.now();

  say(`bench:viewers on ${machine.nproc} × ${machine.cpuModel}: ${VIEWERS} simulated HLS viewers through nginx on a live stream, ${ROUNDS} × (ON ${PHASE_S} s, OFF ${PHASE_S} s), ${CLIENT_PROCS} client processes.`);
  if (!IS_DEFAULT) say('  NOTE: not the issue\'s configuration (2,000 viewers, 60 s phases): figures are not comparable.');

  // -- backing services, roles, two nginx instances
  const dataDir = path.join(work, 'data');
  const mediaDir = path.join(dataDir, 'media');
  const { postgres, redis, db, logDir } = await startBackingServices(dataDir);
  const [apiPort, rtmpPort, onPort, offPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const jwtSecret = randomBytes(32).toString('hex');
  const playbackSecret = randomBytes(32).toString('base64url');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: 'benchv',
    JWT_SECRET: jwtSecret,
    INTERNAL_API_KEY: randomBytes(16).toString('hex'),
    PLAYBACK_SECRET: playbackSecret,
    PLAYBACK_TOKENS: 'on',
    ANALYTICS_ROLLUP_EVERY: '5s',
    PORT: String(apiPort),
    RTMP_PORT: String(rtmpPort),
    HTTP_PORT: String(onPort),
    HLS_HOST: `127.0.0.1:${onPort}`,
    DATA_DIR: dataDir,
    MEDIA_DIR: mediaDir,
    LOG_LEVEL: 'info',
  };

  // each nginx as the nginx role runs it (node dist/bin/nginx.js: renders the template, runs nginx,
  // and with tokens on carries nginx's viewer lines to the api): nginx's CPU is its master and
  // workers; the role process (the forwarder) is measured on its own
  const nginxes: { label: 'on' | 'off'; port: number; masterPid: number; role: Child; accessLog: string }[] = [];
  for (const [label, port] of [['on', onPort], ['off', offPort]] as const) {
    const nDir = path.join(work, `nginx-${label}`);
    await mkdir(nDir, { recursive: true, mode: 0o755 });
    chmodSync(nDir, 0o755);
    const role = startNodeBin(`nginx-${label}`, 'nginx', {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      DATA_DIR: nDir,
      MEDIA_DIR: mediaDir,
      HTTP_PORT: String(port),
      API_UPSTREAMS: `127.0.0.1:${apiPort}`,
      PLAYBACK_TOKENS: label,
      PLAYBACK_SECRET: label === 'on' ? playbackSecret : '',
      LOG_LEVEL: 'warn',
    }, path.join(logDir, `nginx-role-${label}.log`));
    onCleanup(() => stopChild(role, 'SIGTERM', 8_000));
    const pidFile = path.join(nDir, 'nginx', 'nginx.pid');
    const masterPid = await waitFor(
      async () => {
        if (role.process.exitCode !== null) throw new Error(`nginx-${label} role exited: ${role.stderrTail()}`);
        const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
        return pid > 0 && (await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' }).catch(() => null))?.status === 302 ? pid : null;
      },
      { what: `nginx-${label}`, timeoutMs: 15_000 },
    );
    nginxes.push({ label, port, masterPid, role, accessLog: path.join(nDir, 'logs', 'nginx-access.log') });
  }
  const onBase = `http://127.0.0.1:${onPort}`;
  const offBase = `http://127.0.0.1:${offPort}`;

  const roleLog = (name: string) => path.join(logDir, `${name}.out`);
  const api = startNodeBin('api', 'api', { ...env, INSTANCE_ID: 'bench-api', LOG_LEVEL: 'warn' }, roleLog('api'));
  onCleanup(() => stopChild(api, 'SIGTERM', 10_000));
  const ingest = startNodeBin('ingest', 'ingest', { ...env, INSTANCE_ID: 'bench-ingest' }, roleLog('ingest'));
  onCleanup(() => stopChild(ingest, 'SIGTERM', 10_000));
  const worker = startNodeBin('worker', 'worker', { ...env, INSTANCE_ID: 'bench-worker' }, roleLog('worker'));
  onCleanup(() => stopChild(worker, 'SIGTERM', 10_000));
  await waitFor(
    async () => {
      for (const r of [api, ingest, worker]) if (r.process.exitCode !== null) throw new Error(`${r.name} exited: see ${roleLog(r.name)}`);
      return (await call(onBase, '/api/health')).status === 200;
    },
    { what: 'GET /api/health through nginx', timeoutMs: 30_000, intervalMs: 250 },
  );
  await waitFor(async () => (await readFile(roleLog('ingest'), 'utf8').catch(() => '')).includes('RTMP ingest listening'), { what: 'the ingest to listen', timeoutMs: 30_000, intervalMs: 250 });
  await waitFor(async () => (await readFile(roleLog('worker'), 'utf8').catch(() => '')).includes('Transcode worker ready'), { what: 'the worker', timeoutMs: 30_000, intervalMs: 250 });
  say(`Started api (port ${apiPort}), ingest (RTMP ${rtmpPort}), worker; nginx ON (tokens + analytics) on ${onPort}, nginx OFF (plain) on ${offPort}; logs in ${logDir}.`);

  // -- data
  const t0 = performance.now();
  const tokens = createTokenService({ secret: jwtSecret, expiresInSeconds: 3_600 });
  const { rows: adminRows } = await db.query<{ id: string }>(`INSERT INTO users (email, name, role) VALUES ('bench-viewers-admin@onair.local', 'Bench admin', 'admin') RETURNING id`);
  const adminId = adminRows[0]!.id;
  const { rows: adminDev } = await db.query<{ id: string }>(`INSERT INTO devices (user_id, user_agent, expires_at) VALUES ($1, 'bench:viewers', now() + interval '1 day') RETURNING id`, [adminId]);
  const adminToken = await tokens.sign({ userId: adminId, deviceId: adminDev[0]!.id });
  const created = await call(onBase, '/api/streams', { method: 'POST', token: adminToken, body: { title: 'Bench viewers stream' } });
  if (created.status !== 201) throw new Error(`POST /api/streams answered ${created.status}: ${created.text.slice(0, 300)}`);
  const stream = JSON.parse(created.text) as { id: string; streamKey: string; playbackId: string };
  await db.query(
    `INSERT INTO users (email, name, role)
     SELECT 'bench-viewer-' || lpad(i::text, 5, '0') || '@onair.local', 'Bench viewer ' || lpad(i::text, 5, '0'), 'attendee'
     FROM generate_series(1, $1::int) AS i`,
    [VIEWERS],
  );
  const { rows: devices } = await db.query<{ device_id: string; user_id: string }>(
    `INSERT INTO devices (user_id, user_agent, expires_at)
     SELECT id, 'bench:viewers', now() + interval '1 day' FROM users WHERE email LIKE 'bench-viewer-%' ORDER BY email
     RETURNING id AS device_id, user_id`,
  );
  if (devices.length !== VIEWERS) throw new Error(`expected ${VIEWERS} devices, inserted ${devices.length}`);
  const { rows: ev } = await db.query<{ id: string }>(
    `INSERT INTO events (title, description, starts_at, ends_at, status, visibility, attendee_count)
     VALUES ('Bench viewers event', 'bench:viewers', now() - interval '1 hour', now() + interval '3 hours', 'published', 'public', $1) RETURNING id`,
    [VIEWERS],
  );
  const eventId = ev[0]!.id;
  const { rows: se } = await db.query<{ id: string }>(
    `INSERT INTO event_sessions (event_id, title, starts_at, ends_at, stream_id)
     VALUES ($1, 'Main stage', now() - interval '30 minutes', now() + interval '2 hours', $2) RETURNING id`,
    [eventId, stream.id],
  );
  const sessionId = se[0]!.id;
  await db.query(`INSERT INTO event_attendees (event_id, user_id) SELECT $1, id FROM users WHERE email LIKE 'bench-viewer-%'`, [eventId]);
  const jwts = await Promise.all(devices.map((d) => tokens.sign({ userId: d.user_id, deviceId: d.device_id })));
  say(`Seeded ${VIEWERS} attendees with devices and JWTs, an admin, a stream, an event live now whose session uses the stream (${Math.round(performance.now() - t0)} ms).`);

  // -- the live stream: a real RTMP publish, transcoded by the worker
  const publishArgs = [
    '-hide_banner', '-loglevel', 'warning', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=${SOURCE.width}x${SOURCE.height}:rate=${SOURCE.fps}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '3600',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(SOURCE.fps * 2), '-keyint_min', String(SOURCE.fps * 2), '-sc_threshold', '0',
    '-b:v', `${SOURCE.videoKbps}k`, '-maxrate', `${SOURCE.videoKbps}k`, '-bufsize', `${SOURCE.videoKbps * 2}k`,
    '-c:a', 'aac', '-b:a', '128k',
    '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/${stream.streamKey}`,
  ];
  const publisher = startChild('ffmpeg-publish', 'ffmpeg', publishArgs);
  onCleanup(() => stopChild(publisher, 'SIGKILL', 2_000));
  let master = '';
  await waitFor(
    async () => {
      if (publisher.process.exitCode !== null) throw new Error(`the publish exited: ${publisher.stderrTail()}`);
      const r = await call(offBase, `/hls/${stream.playbackId}/master.m3u8`);
      if (r.status !== 200) return false;
      master = r.text;
      return true;
    },
    { what: 'the master playlist (the stream live)', timeoutMs: 60_000, intervalMs: 500 },
  );
  const variants = [...master.matchAll(/BANDWIDTH=(\d+)[^\n]*\n([^\n#]+)/g)].map((m) => ({ bandwidth: Number(m[1]), uri: m[2]!.trim() }));
  const lowest = variants.sort((a, b) => a.bandwidth - b.bandwidth)[0];
  if (!lowest) throw new Error(`the master playlist has no variants:\n${master}`);
  // a few segments in the playlist before the players come
  await waitFor(async () => ((await call(offBase, `/hls/${stream.playbackId}/${lowest.uri}`)).text.match(/#EXTINF/g)?.length ?? 0) >= 3, { what: 'three segments', timeoutMs: 30_000, intervalMs: 500 });
  const variantText = (await call(offBase, `/hls/${stream.playbackId}/${lowest.uri}`)).text;
  say(`Stream live: ${variants.length} variant(s) ${variants.map((v) => `${v.uri} @ ${v.bandwidth} b/s`).join(', ')}; viewers take ${lowest.uri}.`);

  // -- every viewer's own URL, the real path
  const t1 = performance.now();
  const urls: string[] = new Array(VIEWERS);
  let next = 0;
  const refusals: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < VIEWERS) {
        const i = next++;
        const r = await call(onBase, `/api/sessions/${sessionId}`, { token: jwts[i] });
        const body = r.status === 200 ? (JSON.parse(r.text) as { playbackUrl: string | null }) : null;
        if (!body?.playbackUrl) {
          refusals[String(r.status)] = (refusals[String(r.status)] ?? 0) + 1;
          if (Object.keys(refusals).length === 1 && refusals[String(r.status)] === 1) say(`GET /api/sessions/:id answered ${r.status}: ${r.text.slice(0, 300)}`);
          continue;
        }
        urls[i] = body.playbackUrl;
      }
    }),
  );
  if (Object.keys(refusals).length) throw new Error(`GET /api/sessions/:id gave no playbackUrl to some viewers: ${fmtCounts(refusals)}`);
  const expectPrefix = `http://127.0.0.1:${onPort}/hls/${stream.playbackId}/v/`;
  const wrong = urls.filter((u) => !u.startsWith(expectPrefix));
  if (wrong.length) throw new Error(`${wrong.length} playback URLs are not personal token URLs on the ON nginx, e.g. ${wrong[0]}`);
  const plainUrl = `${offBase}/hls/${stream.playbackId}/master.m3u8`;
  say(`Got ${VIEWERS} personal playback URLs from GET /api/sessions/:id (16 at a time) in ${Math.round(performance.now() - t1)} ms.`);

  // -- the players
  const procs = Array.from({ length: CLIENT_PROCS }, (_, i) => startClientProc(`viewers-${i + 1}`));
  for (const p of procs) onCleanup(() => stopChild(p.child, 'SIGTERM', 3_000));
  const slice = (list: string[], k: number) => list.filter((_, i) => i % CLIENT_PROCS === k);
  const snapshot = async () => {
    const snaps = await Promise.all(procs.map((p) => p.ask<Snapshot>({ cmd: 'snapshot' })));
    return {
      bytes: sum(snaps.map((x) => x.bytes)),
      segmentBytes: sum(snaps.map((x) => x.segmentBytes)),
      requests: sum(snaps.map((x) => x.requests)),
      okRequests: sum(snaps.map((x) => x.okRequests)),
      segments: sum(snaps.map((x) => x.segments)),
      errors: snaps.reduce((a, x) => addCounts(a, x.errors), {} as Record<string, number>),
      everOk: sum(snaps.map((x) => x.everOk)),
      cpuSeconds: sum(snaps.map((x) => x.cpuSeconds)),
    };
  };
  const analytics = async () => {
    const r = await call(onBase, `/api/analytics/sessions/${sessionId}?top=0`, { token: adminToken });
    if (r.status !== 200) throw new Error(`GET /api/analytics/sessions/:id answered ${r.status}: ${r.text.slice(0, 300)}`);
    return JSON.parse(r.text) as { currentViewers: number; peakViewers: number; uniqueViewers: number; watchTimeSeconds: number; streamSessions?: unknown };
  };

  const phases: PhaseResult[] = [];
  const onPlayers = { segments: 0, segmentBytes: 0 }; // what the players fetched through the ON nginx, whole phases
  const order: ('on' | 'off')[] = Array.from({ length: ROUNDS }, () => ['on', 'off'] as const).flat();
  for (const [pi, mode] of order.entries()) {
    const name = `${mode.toUpperCase()} #${Math.floor(pi / 2) + 1}`;
    const nginx = nginxes.find((n) => n.label === mode)!;
    const nginxPid = nginx.masterPid;
    const list = mode === 'on' ? urls : urls.map(() => plainUrl);
    const before = mode === 'on' ? await snapshot() : null;
    const phaseStart = Date.now();
    await Promise.all(procs.map((p, k) => p.ask({ cmd: 'start', urls: slice(list, k) })));
    await sleep(SETTLE_S * 1000);
    const w0 = { at: performance.now(), cpu: (await processTreeCpuSeconds(nginxPid))!, snap: await snapshot(), log: await logBytes(nginx.accessLog), api: await processCpuSeconds(api.process.pid!), forwarder: await processCpuSeconds(nginx.role.process.pid!), machine: await machineCpu(), udp: await udpCounters() };
    const samples: PhaseResult['countSamples'] = [];
    for (let t = WARMUP_S; t < PHASE_S; t += SAMPLE_EVERY_S) {
      const wait = phaseStart + t * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      if (mode !== 'on') continue;
      const at = Date.now();
      const [a, truths] = await Promise.all([analytics(), Promise.all(procs.map((p) => p.ask<{ watching: number }>({ cmd: 'count', at })))]);
      const truth = sum(truths.map((x) => x.watching));
      samples.push({ at: new Date(at).toISOString(), reported: a.currentViewers, truth, ratio: truth > 0 ? round(a.currentViewers / truth, 4) : null });
      say(`  [${name}] t=${t}s currentViewers ${a.currentViewers} / true ${truth} = ${truth > 0 ? (a.currentViewers / truth).toFixed(4) : '—'}`);
    }
    const endWait = phaseStart + PHASE_S * 1000 - Date.now();
    if (endWait > 0) await sleep(endWait);
    const w1 = { at: performance.now(), cpu: (await processTreeCpuSeconds(nginxPid))!, snap: await snapshot(), log: await logBytes(nginx.accessLog), api: await processCpuSeconds(api.process.pid!), forwarder: await processCpuSeconds(nginx.role.process.pid!), machine: await machineCpu(), udp: await udpCounters() };
    await Promise.all(procs.map((p) => p.ask({ cmd: 'stop' })));
    await sleep(500); // the last requests reach the access log
    if (before) {
      const after = await snapshot();
      onPlayers.segments += after.segments - before.segments;
      onPlayers.segmentBytes += after.segmentBytes - before.segmentBytes;
    }
    const fromLog = await accessLogBodyBytes(nginx.accessLog, w0.log, w1.log);
    const windowSeconds = (w1.at - w0.at) / 1000;
    const bytes = w1.snap.bytes - w0.snap.bytes;
    const cpu = w1.cpu - w0.cpu;
    const gigabits = (bytes * 8) / 1e9;
    const requests = w1.snap.requests - w0.snap.requests;
    const phase: PhaseResult = {
      name,
      analytics: mode,
      windowSeconds: round(windowSeconds, 2),
      nginxCpuSeconds: round(cpu, 2),
      nginxCpus: round(cpu / windowSeconds, 3),
      clientBytes: bytes,
      gigabits: round(gigabits, 4),
      cpuSecondsPerGb: gigabits > 0 ? round(cpu / gigabits, 3) : null,
      nginxLogBodyBytes: fromLog.bytes,
      nginxLogLines: fromLog.lines,
      nginxLogSegments: fromLog.segmentLines,
      nginxLogSegmentBytes: fromLog.segmentBytes,
      nginxLogStatuses: fromLog.statuses,
      clientSegments: w1.snap.segments - w0.snap.segments,
      clientSegmentBytes: w1.snap.segmentBytes - w0.snap.segmentBytes,
      requests,
      requestsPerSecond: round(requests / windowSeconds, 1),
      segmentsPerSecond: round((w1.snap.segments - w0.snap.segments) / windowSeconds, 1),
      errors: diffCounts(w0.snap.errors, w1.snap.errors),
      viewersWithASuccess: w1.snap.everOk,
      udp: { inDatagrams: w1.udp.inDatagrams - w0.udp.inDatagrams, inErrors: w1.udp.inErrors - w0.udp.inErrors, rcvbufErrors: w1.udp.rcvbufErrors - w0.udp.rcvbufErrors },
      apiCpuSeconds: w0.api !== null && w1.api !== null ? round(w1.api - w0.api, 2) : null,
      forwarderCpuSeconds: w0.forwarder !== null && w1.forwarder !== null ? round(w1.forwarder - w0.forwarder, 2) : null,
      clientCpuSeconds: round(w1.snap.cpuSeconds - w0.snap.cpuSeconds, 2),
      machineBusyCpus: round((w1.machine.busySeconds - w0.machine.busySeconds) / windowSeconds, 2),
      countSamples: samples,
    };
    phases.push(phase);
    say(
      `[${name}] ${phase.windowSeconds} s: nginx ${phase.nginxCpuSeconds} CPU-s (${phase.nginxCpus} CPUs) for ${(bytes / 1e6).toFixed(1)} MB (nginx log: ${(fromLog.bytes / 1e6).toFixed(1)} MB in ${fromLog.lines} lines, ${fromLog.segmentLines} segments ${(fromLog.segmentBytes / 1e6).toFixed(1)} MB; players: ${phase.clientSegments} segments ${(phase.clientSegmentBytes / 1e6).toFixed(1)} MB) = ${phase.cpuSecondsPerGb} CPU-s/Gb; ` +
        `${phase.requestsPerSecond} req/s (${phase.segmentsPerSecond} segments/s), errors: ${fmtCounts(phase.errors)}; UDP in ${phase.udp.inDatagrams} (receive errors ${phase.udp.inErrors}); viewers with a success ${phase.viewersWithASuccess}; api ${phase.apiCpuSeconds} CPU-s, nginx role (viewer-line forwarder) ${phase.forwarderCpuSeconds} CPU-s, clients ${phase.clientCpuSeconds} CPU-s, machine ${phase.machineBusyCpus} CPUs busy`,
    );
  }

  // -- after the phases: the roll-up (every 5 s) writes unique and peak viewers to Postgres
  let final = await analytics();
  const rollupDeadline = Date.now() + 30_000;
  while (final.uniqueViewers < VIEWERS && Date.now() < rollupDeadline) {
    await sleep(2_000);
    final = await analytics();
  }
  await sleep(6_000); // one more roll-up, so the figures are settled
  final = await analytics();
  say(`After the phases: uniqueViewers ${final.uniqueViewers} (expected ${VIEWERS}), peakViewers ${final.peakViewers}, watchTimeSeconds ${final.watchTimeSeconds}, currentViewers ${final.currentViewers}.`);

  // -- what the api says was served (renditionsServed, from the viewer lines) against what the
  // players fetched through the ON nginx (its access log holds only refusals: served viewer
  // requests are logged once, as viewer lines)
  const served = ((final.streamSessions ?? []) as { renditionsServed?: { rendition: string; segments: number; bytes: number }[] }[]).flatMap((x) => x.renditionsServed ?? []);
  const servedSegments = sum(served.map((r) => r.segments));
  const servedBytes = sum(served.map((r) => r.bytes));
  const servedCheck = {
    playersOnSegments: onPlayers.segments,
    playersOnSegmentBytes: onPlayers.segmentBytes,
    apiRenditionsServedSegments: servedSegments,
    apiRenditionsServedBytes: servedBytes,
    segmentsRatio: onPlayers.segments > 0 ? round(servedSegments / onPlayers.segments, 4) : null,
  };
  say(`Served per the api (renditionsServed): ${servedSegments} segments, ${(servedBytes / 1e6).toFixed(1)} MB (playlists included); the players fetched ${onPlayers.segments} segments (${(onPlayers.segmentBytes / 1e6).toFixed(1)} MB) through the ON nginx (ratio segments ${servedCheck.segmentsRatio}).`);

  // -- figures
  const on = phases.filter((p) => p.analytics === 'on');
  const off = phases.filter((p) => p.analytics === 'off');
  const ratios = on.flatMap((p) => p.countSamples.map((s) => s.ratio)).filter((r): r is number => r !== null);
  const countRatio = { min: ratios.length ? Math.min(...ratios) : null, median: median(ratios), max: ratios.length ? Math.max(...ratios) : null, samples: ratios.length };
  const countPass = ratios.length > 0 && ratios.every((r) => Math.abs(r - 1) <= 0.02);
  const pooled = (ps: PhaseResult[]) => {
    const g = sum(ps.map((p) => p.gigabits));
    return g > 0 ? sum(ps.map((p) => p.nginxCpuSeconds)) / g : null;
  };
  const pairRatios = on.map((p, i) => (p.cpuSecondsPerGb !== null && off[i]?.cpuSecondsPerGb ? round(p.cpuSecondsPerGb / off[i].cpuSecondsPerGb, 3) : null)).filter((r): r is number => r !== null);
  const pooledOn = pooled(on);
  const pooledOff = pooled(off);
  const cpuRatio = pooledOn !== null && pooledOff !== null ? round(pooledOn / pooledOff, 3) : null;
  // nginx CPU per request (µs): what analytics add per request, independent of segment size
  const perReq = (ps: PhaseResult[]) => {
    const n = sum(ps.map((p) => p.requests));
    return n > 0 ? round((sum(ps.map((p) => p.nginxCpuSeconds)) / n) * 1e6, 1) : null;
  };
  const medianRoundRatio = median(pairRatios);
  const cpuPass = cpuRatio !== null && cpuRatio <= 1.1;
  const totalErrors = phases.reduce((a, p) => addCounts(a, p.errors), {} as Record<string, number>);
  const nErrors = sum(Object.values(totalErrors));
  const nRequests = sum(phases.map((p) => p.requests));
  const apiLog = (await readFile(roleLog('api'), 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '');
  // pino levels: 40 warn, 50 error, 60 fatal
  const workerWarn = (await Promise.all([roleLog('worker'), roleLog('ingest')].map((f) => readFile(f, 'utf8').catch(() => ''))))
    .flatMap((t) => t.split('\n'))
    .filter((l) => /"level":(4|5|6)0/.test(l));

  const out = await writeResult('viewers', {
    date: new Date().toISOString(),
    machine: { ...machine, busyCpusBefore },
    config: { viewers: VIEWERS, phaseSeconds: PHASE_S, rounds: ROUNDS, order: order.map((m) => m.toUpperCase()), clientProcesses: CLIENT_PROCS, warmupSeconds: WARMUP_S, settleSeconds: SETTLE_S, sampleEverySeconds: SAMPLE_EVERY_S, issueDefault: IS_DEFAULT },
    setup:
      'embedded Postgres and Redis, migrations; api, ingest and worker roles (node dist/bin/<role>.js, NODE_ENV=production, PLAYBACK_TOKENS=on, ANALYTICS_ROLLUP_EVERY=5s); ' +
      'two nginx roles (node dist/bin/nginx.js, as compose runs it; worker_processes auto) over one media dir: ON with the playback secret (secure_link + one line per 2xx request into a buffered file, 32 KiB / 1 s, which the role forwards to the api node over UDP in batches; these lines replace the access log lines of served viewer requests), OFF with PLAYBACK_TOKENS=off (plain /hls/ path, nothing written); nginx CPU = its master and workers; the role process (forwarder) reported separately; ' +
      `a real RTMP publish (ffmpeg lavfi testsrc2 ${SOURCE.width}x${SOURCE.height}@${SOURCE.fps}, x264 ultrafast ${SOURCE.videoKbps} kb/s + AAC 128 kb/s) transcoded by the worker with the default profile (the ladder keeps only rungs no taller than the source); ` +
      `${VIEWERS} attendees + devices, an admin, an event live now whose session uses the stream, everyone joined: by SQL; each viewer's URL from GET /api/sessions/:id with its own JWT through nginx`,
    stream: { variants, viewersTake: lowest, targetDuration: Number(/#EXT-X-TARGETDURATION:(\d+)/.exec(variantText)?.[1] ?? NaN) },
    method:
      `players: node:http keep-alive clients in ${CLIENT_PROCS} child processes; each fetches the master, takes the lowest-bandwidth variant, then every target duration (±10% jitter, random start within 2 s) the variant playlist and each segment not fetched before (starting at the newest); ` +
      `nginx CPU = user+sys of the nginx master and workers (/proc) over each phase's window (${SETTLE_S} s after the phase start to its end); bytes = response body bytes the players received in that window (cross-check: $body_bytes_sent in the access log); ` +
      `CPU per Gb = nginx CPU s / (bytes × 8 / 1e9); ratio = pooled ON / pooled OFF; count: from ${WARMUP_S} s into each ON phase every ${SAMPLE_EVERY_S} s, currentViewers of GET /api/analytics/sessions/:id (admin) / viewers whose player had a 2xx in the last 20 s (player clocks)`,
    phases,
    count: { ...countRatio, target: '1.00 ± 0.02', pass: countPass },
    afterRollup: { uniqueViewers: final.uniqueViewers, expectedUniqueViewers: VIEWERS, peakViewers: final.peakViewers, watchTimeSeconds: final.watchTimeSeconds },
    streamSessions: final.streamSessions ?? null,
    servedCheck,
    workerLogWarnings: workerWarn.length,
    workerLogFirstWarnings: workerWarn.slice(0, 5).map((l) => l.slice(0, 400)),
    nginxCpuPerGb: {
      on: pooledOn !== null ? round(pooledOn, 3) : null,
      off: pooledOff !== null ? round(pooledOff, 3) : null,
      ratio: cpuRatio,
      perRoundRatios: pairRatios,
      medianOfRoundRatios: medianRoundRatio,
      cpuMicrosecondsPerRequest: { on: perReq(on), off: perReq(off) },
      segmentBytesMean: Math.round(sum(phases.map((p) => p.clientSegmentBytes)) / Math.max(1, sum(phases.map((p) => p.clientSegments)))),
      forwarderCpuSecondsOn: round(sum(phases.filter((p) => p.analytics === 'on').map((p) => p.forwarderCpuSeconds ?? 0)), 2),
      target: '≤ 1.10',
      pass: cpuPass,
    },
    errors: { total: nErrors, requests: nRequests, byKind: totalErrors },
    apiLogLines: apiLog.length,
    runSeconds: round((performance.now() - started) / 1000, 1),
  });
  keep(apiLog.length > 0 || nErrors > 0 || workerWarn.length > 0);

  say('');
  say(`  results: ${out}`);
  say(`bench:viewers on ${machine.nproc} × ${machine.cpuModel}; ${VIEWERS} viewers of ${lowest.uri} (${lowest.bandwidth} b/s), ${ROUNDS} × (ON ${PHASE_S} s, OFF ${PHASE_S} s)`);
  say(`  viewer count ratio (currentViewers / true): min ${countRatio.min}, median ${countRatio.median}, max ${countRatio.max} over ${countRatio.samples} samples — target 1.00 ± 0.02: ${countPass ? 'PASS' : 'MISS'}`);
  say(`  after the roll-up: uniqueViewers ${final.uniqueViewers} (expected ${VIEWERS}), peakViewers ${final.peakViewers}`);
  say(`  nginx CPU per Gb: ON ${pooledOn?.toFixed(3)} s, OFF ${pooledOff?.toFixed(3)} s, ratio ${cpuRatio} (per round: ${pairRatios.join(', ')}; median ${medianRoundRatio}) — target ≤ 1.10: ${cpuPass ? 'PASS' : 'MISS'}`);
  say(`    nginx CPU per request: ON ${perReq(on)} µs, OFF ${perReq(off)} µs; the viewer-line forwarder (nginx role process): ${round(sum(on.map((p) => p.forwarderCpuSeconds ?? 0)), 2)} CPU-s over the ON windows`);
  say(`  requests ${nRequests.toLocaleString('en')}, errors ${nErrors} (${fmtCounts(totalErrors)}); run ${round((performance.now() - started) / 1000, 0)} s`);
  say(`  the stream's publish (worker): ${JSON.stringify(final.streamSessions ?? null).slice(0, 600)}`);
  if (workerWarn.length) say(`  the worker/ingest wrote ${workerWarn.length} warning/error line(s); first: ${workerWarn[0]!.slice(0, 300)}`);
  if (apiLog.length) say(`  the api wrote ${apiLog.length} warning/error line(s); first: ${apiLog[0]!.slice(0, 300)}`);
}

if (process.argv.includes(CHILD_FLAG)) clientMain();
else runBench('bench:viewers', main, BENCH_DEADLINE_MS);
