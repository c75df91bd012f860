// all role: the one-box appliance. Starts its own Postgres and Redis (unless DATABASE_URL /
// REDIS_URL are given), runs migrations, starts nginx and the ingest, worker and api roles as
// supervised children, with the LL-HLS playlist origin (a crashed role, an embedded Postgres or Redis that dies is restarted on the
// same port and data dir, with backoff), prints how to use it, and on Ctrl-C stops everything in
// order: publishers first, then transcoders (playlists finished), API, nginx, data.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startViewerLineForwarder } from '../analytics/forwarder.js';
import { viewerDatagramKey } from '../analytics/viewer-datagram.js';
import { PREVIEW_SESSION_ID, viewerPlaybackUrl } from '../analytics/playback.js';
import { ConfigError, loadConfig, rtmpIngestUrl } from '../config.js';
import { createPool } from '../db/pool.js';
import { createLog, silentLog } from '../log.js';
import { createPrivateFile, rotateNginxLogs, secureLogDir } from '../local/log-files.js';
import { prepareNginx } from '../local/nginx-config.js';
import { freePort, isRoot, portIsFree, startChild, type Managed } from '../local/processes.js';
import { loadOrCreateSecrets } from '../local/secrets.js';
import { ensureTraversable, startPostgres, startRedis } from '../local/services.js';
import { createBus } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { createStreamsService } from '../streams/service.js';
import { loadProfile } from '../transcode/profiles.js';

const say = (text: string) => process.stdout.write(text + '\n');
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Children log JSON lines (to their log files); the console gets a short human line. */
function consoleLine(line: string): string | null {
  try {
    const rec = JSON.parse(line) as { level?: number; msg?: string; time?: string };
    if ((rec.level ?? 30) < 30) return null;
    return `${(rec.time ?? '').slice(11, 19)} ${LEVELS[rec.level ?? 30] ?? ''} ${rec.msg ?? ''}`;
  } catch {
    return line.trim() ? line : null;
  }
}

let config;
try {
  config = loadConfig(process.env, 'all');
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`onair: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
const cfg = config;
const binDir = path.dirname(fileURLToPath(import.meta.url));
const children: Managed[] = [];
let forwarder: { stop(): Promise<void> } | null = null;
let nginxRotation: { stop(): void } | null = null;
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (stopping) return new Promise(() => undefined);
  stopping = true;
  say('\n[onair] Stopping: ingest, worker, origin, api, nginx, redis, postgres …');
  // from here on nothing is restarted: a child that dies now stays down while the rest stop in order
  for (const c of children) c.stopRestarting();
  nginxRotation?.stop();
  const order = ['ingest', 'worker', 'origin', 'api', 'nginx', 'redis', 'postgres'];
  for (const name of order) {
    const c = children.find((x) => x.name === name);
    if (c) await c.stop(name === 'worker' ? 20_000 : 10_000);
  }
  await forwarder?.stop();
  say('[onair] Stopped.');
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

async function main() {
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o755 });
  // logs: no other local user reads them (as root, nginx's workers may enter to reopen theirs)
  secureLogDir(cfg.logDir, { nginxUser: isRoot() ? 'www-data' : null });
  mkdirSync(cfg.mediaDir, { recursive: true, mode: 0o755 });

  const busy: string[] = [];
  const ports = [['HTTP_PORT', cfg.httpPort], ['RTMP_PORT', cfg.rtmpPort], ['PORT', cfg.port], ['ORIGIN_PORT', cfg.origin.port], ['RTMPS_PORT', cfg.rtmps?.port]] as const;
  for (const [name, port] of ports) {
    if (port && !(await portIsFree(port))) busy.push(`${name} ${port} is already in use: stop what uses it or set ${name} to a free port.`);
  }
  if (busy.length) throw new Error(busy.join('\n  '));
  await loadProfile(cfg.profilesDir, cfg.profile); // a bad TRANSCODE_PROFILE stops the start, not the first publish

  const { secrets } = loadOrCreateSecrets(cfg.dataDir);
  ensureTraversable(cfg.dataDir, say);
  const common = { logDir: cfg.logDir, onConsole: say, rotation: cfg.logRotation };

  let databaseUrl = cfg.databaseUrl;
  if (!databaseUrl) {
    say('[onair] Starting the embedded PostgreSQL …');
    const pg = await startPostgres({ dir: path.join(cfg.dataDir, 'postgres'), password: secrets.postgresPassword, restart: true, ...common });
    children.push(pg.process);
    databaseUrl = pg.url;
  }
  let redisUrl = cfg.redisUrl;
  if (!redisUrl) {
    say('[onair] Starting the embedded Redis …');
    const redis = await startRedis({ dir: path.join(cfg.dataDir, 'redis'), password: secrets.redisPassword, restart: true, ...common });
    children.push(redis.process);
    redisUrl = redis.url;
  }

  const adminEmail = cfg.adminEmail ?? 'admin@onair.local';
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: cfg.dataDir,
    MEDIA_DIR: cfg.mediaDir,
    // the api writes uploads where nginx (rendered here) serves them from: one resolved path for both
    UPLOADS_DIR: cfg.uploadsDir,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    JWT_SECRET: cfg.jwtSecret || secrets.jwtSecret,
    INTERNAL_API_KEY: cfg.internalApiKey || secrets.internalApiKey,
    PLAYBACK_SECRET: cfg.playbackSecret || secrets.playbackSecret,
    // relay destinations' stream keys: the operator's RELAY_KEYS, else the generated key kept in secrets.json
    ...(cfg.relay.keys.length > 0 ? {} : { RELAY_KEYS: `local:${secrets.relayKey}` }),
  };
  delete env.ADMIN_EMAIL;
  delete env.ADMIN_PASSWORD;
  const role = (name: string, restart: boolean, extra: NodeJS.ProcessEnv = {}): Managed =>
    startChild({ name, command: process.execPath, args: [path.join(binDir, `${name}.js`)], env: { ...env, ...extra }, restart, consoleLine }, common);

  say('[onair] Applying database migrations …');
  // only migrate creates the first admin: no other process needs the password
  const migrate = role('migrate', false, { ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: cfg.adminPassword ?? secrets.adminPassword });
  const code = await migrate.firstExit;
  if (code !== 0) throw new Error(`Migrations failed (exit ${code}); see ${path.join(cfg.logDir, 'migrate.log')}.`);

  const nginx = prepareNginx({ dataDir: cfg.dataDir, logDir: cfg.logDir, httpPort: cfg.httpPort, mediaDir: cfg.mediaDir, recordingsDir: cfg.recordings.dir, uploadsDir: cfg.uploadsDir, apiUpstreams: cfg.apiUpstreams, originUpstreams: cfg.origin.upstreams, runAsRoot: isRoot(), playbackSecret: cfg.playbackTokens ? env.PLAYBACK_SECRET! : null });
  const nginxLogs = ['nginx-access.log', 'nginx-error.log'].map((f) => path.join(cfg.logDir, f));
  for (const f of nginxLogs) createPrivateFile(f); // nginx would create them 0644
  children.push(startChild({ name: 'nginx', command: nginx.command, args: nginx.args, stopSignal: 'SIGQUIT', restart: true }, common));
  nginxRotation = rotateNginxLogs({ files: nginxLogs, pidFile: nginx.pidFile, rotation: cfg.logRotation });
  if (nginx.viewerLines) {
    // viewer analytics: this process carries nginx's viewer lines to the api (src/analytics/forwarder.ts)
    const log = createLog({ level: 'warn', name: 'viewer-lines' });
    forwarder = startViewerLineForwarder({ file: nginx.viewerLines, pidFile: nginx.pidFile, upstreams: cfg.apiUpstreams, key: viewerDatagramKey(env.PLAYBACK_SECRET!), log });
  }
  // ingest and worker serve /metrics on ports of their own, on loopback (the api on PORT)
  const metricsPorts: Record<string, number> = { worker: await freePort(), ingest: await freePort() };
  // the origin (LL-HLS playlists) listens on ORIGIN_PORT, loopback, where nginx finds it; /metrics there too
  for (const name of ['api', 'worker', 'ingest', 'origin']) {
    children.push(role(name, true, metricsPorts[name] ? { METRICS_PORT: String(metricsPorts[name]), METRICS_HOST: '127.0.0.1' } : {}));
  }

  await waitForHealth(`http://127.0.0.1:${cfg.httpPort}/api/health`, 30_000);
  const demo = await ensureDemoStream(databaseUrl, redisUrl);
  // the generated admin password is shown until one banner has shown it
  const shownMarker = path.join(cfg.dataDir, '.admin-password-shown');
  const showPassword = !existsSync(shownMarker);
  printBanner({ showPassword, adminEmail, adminPassword: cfg.adminPassword ? null : secrets.adminPassword, demo, metricsPorts, playbackSecret: env.PLAYBACK_SECRET! });
  writeFileSync(shownMarker, '');
}

async function waitForHealth(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`The API did not become healthy through nginx at ${url}; see ${cfg.logDir}.`);
}

interface Demo {
  id: string;
  playbackId: string;
  streamKey: string | null; // only when created in this start
}

/** On first start a demo stream is made and its key shown once; later starts only name it. */
async function ensureDemoStream(databaseUrl: string, redisUrl: string): Promise<Demo> {
  const file = path.join(cfg.dataDir, 'demo-stream.json');
  if (existsSync(file)) return { ...(JSON.parse(readFileSync(file, 'utf8')) as Omit<Demo, 'streamKey'>), streamKey: null };
  const log = silentLog();
  const db = createPool({ url: databaseUrl, log, max: 1 });
  const redis = createRedis({ url: redisUrl, log, purpose: 'all' });
  try {
    const streams = createStreamsService({ db, bus: createBus({ pub: redis, sub: redis, prefix: cfg.redisPrefix, log }), log, defaultProfile: cfg.profile, profileExists: (name) => loadProfile(cfg.profilesDir, name).then(() => true, () => false) });
    const { stream, streamKey } = await streams.create({ title: 'Demo stream', createdBy: null });
    writeFileSync(file, JSON.stringify({ id: stream.id, playbackId: stream.playbackId }) + '\n', { mode: 0o600 });
    return { id: stream.id, playbackId: stream.playbackId, streamKey };
  } finally {
    redis.disconnect();
    await db.end();
  }
}

function printBanner(o: { showPassword: boolean; adminEmail: string; adminPassword: string | null; demo: Demo; metricsPorts: Record<string, number>; playbackSecret: string }) {
  const api = `http://${cfg.hlsHost}/api`;
  const lines = [
    '',
    '================================================================================',
    ' Onair is running.  Ctrl-C stops everything.',
    '--------------------------------------------------------------------------------',
    ` Web             ${cfg.publicScheme}://${cfg.hlsHost}/   (sign in below; organisers: /console)`,
    ` Admin login     ${o.adminEmail}  /  ${o.adminPassword ? (o.showPassword ? o.adminPassword : `(see ${path.join(cfg.dataDir, 'secrets.json')})`) : '(your ADMIN_PASSWORD)'}`,
    `                 curl -X POST ${api}/auth/login -H 'content-type: application/json' -d '{"email":"${o.adminEmail}","password":"…"}'`,
    ` RTMP server     ${rtmpIngestUrl(cfg)}`,
    ' OBS settings    Settings › Stream: Service "Custom…", Server above, Stream Key below.',
    '                 Settings › Output (Advanced): x264 or NVENC H.264, CBR, 1080p up to 6000 kb/s,',
    '                 keyframe interval 2 s, profile high; AAC audio 128–160 kb/s, 48 kHz.',
    ` Demo stream     id ${o.demo.id}`,
    o.demo.streamKey
      ? ` Stream key      ${o.demo.streamKey}   (shown only now; keep it secret)`
      : ` Stream key      shown only on first start. New key: curl -X POST ${api}/streams/${o.demo.id}/regenerate-key -H "authorization: Bearer <token>"`,
    ` Playback URL    ${viewerPlaybackUrl({ ...cfg, playbackSecret: o.playbackSecret }, { playbackId: o.demo.playbackId, sessionId: PREVIEW_SESSION_ID, userId: PREVIEW_SESSION_ID })}`,
    ...(cfg.playbackTokens ? ['                 (a preview URL for a day; viewers get their own from GET /api/sessions/:id)'] : []),
    ` Try it          ffmpeg -re -f lavfi -i testsrc2=size=1920x1080:rate=30 -f lavfi -i sine -c:v libx264 -preset veryfast -g 60 -b:v 4500k -c:a aac -f flv ${rtmpIngestUrl(cfg)}/<stream key>`,
    ` Metrics         api http://127.0.0.1:${cfg.port}/metrics, ingest :${o.metricsPorts.ingest}, worker :${o.metricsPorts.worker}, origin :${cfg.origin.port} (127.0.0.1 only)`,
    `                 Authorization: Bearer <internalApiKey in ${path.join(cfg.dataDir, 'secrets.json')}, or your INTERNAL_API_KEY>`,
    ` Logs            ${cfg.logDir}`,
    '================================================================================',
    '',
  ];
  say(lines.join('\n'));
}

main().catch(async (err) => {
  say(`[onair] Could not start: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll(1);
});
