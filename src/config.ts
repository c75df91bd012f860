// The only reader of process.env. Defaults → env → validate (every problem at once) → frozen object.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { parseDuration } from './durations.js';
import { PROFILES_DIR } from './paths.js';
import { DEFAULT_RATE_LIMITS, parseRateLimit, RATE_ACTIONS, type RateLimits } from './rate-limit-settings.js';

export { parseDuration } from './durations.js';
export { DEFAULT_RATE_LIMITS, parseRateLimit, RATE_ACTIONS, type RateAction, type RateLimit, type RateLimits } from './rate-limit-settings.js';

export type Role = 'all' | 'api' | 'ingest' | 'worker' | 'migrate' | 'nginx' | 'origin';

export interface Config {
  role: Role;
  instanceId: string; // names this process in logs, leases and publish sessions
  dataDir: string;
  mediaDir: string;
  logDir: string;
  logLevel: string;
  /** One-box start: a log file is rotated before it passes this size, and this many files are kept. */
  logRotation: { maxBytes: number; files: number };
  databaseUrl: string | null; // null only for `all`, which then starts its own Postgres
  redisUrl: string | null; // null only for `all`, which then starts its own Redis
  redisPrefix: string; // namespaces every Redis key (BullMQ included): two instances can share a Redis
  jwtSecret: string;
  jwtExpiresInSeconds: number;
  port: number; // API
  /** Address the API (HTTP, WebSocket, /metrics) binds to: loopback unless told (compose: 0.0.0.0). */
  apiHost: string;
  /** Address the API's viewer-line collector (UDP, same port number) binds to; defaults to apiHost. */
  collectorHost: string;
  httpPort: number; // nginx: HLS, /api, /ws
  rtmpPort: number;
  rtmps: { port: number; cert: string; key: string } | null;
  /** ingest: caps on RTMP connections, in all and per remote address, and on those not yet publishing. */
  rtmpCaps: { maxConnections: number; maxConnectionsPerIp: number; maxPending: number; maxPendingPerIp: number };
  rtmpHost: string; // what broadcasters are told to connect to
  hlsHost: string; // host[:port] viewers fetch HLS from
  publicScheme: 'http' | 'https';
  corsOrigin: string;
  internalApiKey: string;
  profile: string;
  profilesDir: string;
  ingestPullHost: string; // how workers reach this ingest's RTMP port for the internal pull
  /** worker: the ingests a job's pull URL may name, as lowercase "host:port" (INGEST_PULL_HOSTS). */
  ingestPullHosts: string[];
  /**
   * The whole environment of a child such as ffmpeg: PATH and the locale, never this process's
   * secrets (DATABASE_URL, REDIS_URL, JWT_SECRET, INTERNAL_API_KEY, PLAYBACK_SECRET …).
   */
  childEnv: Readonly<Record<string, string>>;
  workerConcurrency: number;
  apiUpstreams: string[]; // nginx upstreams for /api and /ws
  /** The low-latency playlist origin (src/llhls/origin.ts): where it listens (ORIGIN_HOST, ORIGIN_PORT) and nginx's list of origins (ORIGIN_UPSTREAMS). */
  origin: { host: string; port: number; upstreams: string[] };
  adminEmail: string | null;
  adminPassword: string | null;
  /** Express `trust proxy`: which hops may set X-Forwarded-For (per-IP login limits use the client IP). */
  trustProxy: string | number;
  /** Sign-in, registration and set-password throttling (see src/auth/throttle.ts). */
  login: AuthLimits;
  /** The argon2 queue (see src/auth/passwords.ts). */
  passwords: { cost: 'standard' | 'test'; concurrency: number; maxWaiting: number };
  /** Per-user flood limits (Redis, shared by every API node, REST and WebSocket alike): see RATE_LIMIT_*. */
  rateLimits: RateLimits;
  /** REST: how long a `rate_limited` answer is held before it is sent (a tarpit for floods over many connections). */
  rateLimitHoldMs: number;
  /** api: how often every open WebSocket room is re-checked for who may still read it (a lost bus message heals within this). */
  roomRecheckSeconds: number;
  /** api: how long `POST /api/streams/:id/stop` refuses the stream's publishes (STOP_COOLOFF_SECONDS). */
  stopCooloffSeconds: number;
  /** ingest/worker: how long a dropped publisher may come back and continue the same playlists (RECONNECT_GRACE_SECONDS; 0 = no grace). */
  reconnectGraceSeconds: number;
  /** Recordings (src/recordings/): where they live, whether streams record by default, how long they are kept, the free-space floor. */
  recordings: Recordings;
  /** ingest/worker: port of their own /metrics server (0 = off); the api serves /metrics on PORT. */
  metricsPort: number;
  metricsHost: string;
  /** Per-viewer playback tokens: nginx checks them and logs each viewer's requests (HLS analytics). */
  playbackTokens: boolean;
  /** Signs playback tokens; api and nginx must share it ('' when tokens are off or unused). */
  playbackSecret: string;
  /** How often the analytics roll-up job runs (minutes are the unit it writes). */
  analyticsRollupSeconds: number;
  /** api: whether this node takes roll-up jobs (ANALYTICS_ROLLUP=off leaves them to other nodes). */
  analyticsRollup: boolean;
  /** A session's viewer URLs play from this long before its start and stop this long after its end (src/analytics/playback-window.ts). */
  playbackWindow: { leadSeconds: number; graceSeconds: number };
  /** api: how often this node brings the playback gate's marker files in line with the database. */
  playbackGateSeconds: number;
  /** UPLOADS_DIR: uploaded branding images (src/uploads/), written by the api, served by nginx under /uploads/. */
  uploadsDir: string;
  /** Relay destinations (src/relays/): how many per stream, whether private addresses are allowed, the keys their stream keys are encrypted with. */
  relay: RelaySettings;
}

export interface RelayKey {
  id: string;
  /** 32 bytes (AES-256). */
  key: Buffer;
}

export interface RelaySettings {
  /** RELAY_MAX_DESTINATIONS: destinations per stream. */
  maxDestinations: number;
  /** RELAY_ALLOW_PRIVATE: destinations on loopback, private or link-local addresses are allowed (tests, a LAN restreamer). */
  allowPrivate: boolean;
  /** RELAY_KEYS: the first encrypts, all decrypt (rotation); empty when unset (destinations are then refused). */
  keys: RelayKey[];
  /** RELAY_CA_FILE: a PEM file of CAs trusted for RTMPS destinations on top of the system store (the worker reads it at start); null when unset. */
  caFile: string | null;
}

export interface Recordings {
  /** RECORDINGS_DIR: its own directory (a separate volume if the operator wants), never under the live media dir. */
  dir: string;
  /** RECORD_BY_DEFAULT: what a stream whose `record` is unset does. */
  byDefault: boolean;
  /** RECORDING_RETENTION_DAYS: recordings older than this are deleted by a scheduled job (0 = kept for ever). */
  retentionDays: number;
  /** RECORDING_RETENTION_EVERY: how often the retention job runs (it also removes recording directories without a row). */
  retentionEverySeconds: number;
  /** RECORDING_MIN_FREE_MB, in bytes: below this much free space new recordings don't start and running ones stop. */
  minFreeBytes: number;
}

export interface AuthLimits {
  /** LOGIN_ACCOUNT_IP_LIMIT: failed sign-ins per account from one IP before that pair waits growing delays. */
  accountIpFailures: number;
  /** LOGIN_IP_LIMIT: failed sign-ins per client IP (any accounts) before that IP waits growing delays. */
  ipFailures: number;
  /** LOGIN_ACCOUNT_LIMIT: failed sign-ins per account (all IPs) before IPs that failed on it wait growing delays. */
  accountFailures: number;
  /** LOGIN_WINDOW: how long failures are counted (from the first). */
  windowSeconds: number;
  /** LOGIN_MAX_DELAY: the longest of the growing delays (1 s, 2 s, 4 s, …). */
  maxDelaySeconds: number;
  /** REGISTER_IP_LIMIT / REGISTER_EMAIL_LIMIT: registrations per client IP, and per email, per window. */
  registerPerIp: number;
  registerPerEmail: number;
  /** SET_PASSWORD_IP_LIMIT: set-password attempts with a bad token per IP before growing delays; SET_PASSWORD_TOKEN_LIMIT: attempts per token. */
  setPasswordIpFailures: number;
  setPasswordTokenAttempts: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Configuration is not valid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const REQUIRED_BY_ROLE: Record<Role, string[]> = {
  all: [],
  migrate: ['DATABASE_URL'],
  api: ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET'],
  ingest: ['DATABASE_URL', 'REDIS_URL', 'INTERNAL_API_KEY'],
  worker: ['DATABASE_URL', 'REDIS_URL', 'INTERNAL_API_KEY'],
  nginx: [],
  origin: ['REDIS_URL'],
};

export function loadConfig(env: Env, role: Role, cwd = process.cwd()): Readonly<Config> {
  const problems: string[] = [];
  const str = (name: string, fallback: string): string => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? fallback : v.trim();
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, but it is "${raw}".`);
      return fallback;
    }
    return n;
  };
  const url = (name: string, protocols: string[]): string | null => {
    const raw = env[name]?.trim();
    if (!raw) return null;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) {
        problems.push(`${name} must start with ${protocols.map((p) => p + '//').join(' or ')}.`);
      }
    } catch {
      problems.push(`${name} is not a valid URL.`);
    }
    return raw;
  };

  for (const name of REQUIRED_BY_ROLE[role]) {
    if (!env[name]?.trim()) problems.push(`${name} is required for the ${role} role.`);
  }

  const dataDir = path.resolve(cwd, str('DATA_DIR', './.onair'));
  const port = int('PORT', 3000, 1, 65535);
  const httpPort = int('HTTP_PORT', 8080, 1, 65535);
  const rtmpPort = int('RTMP_PORT', 1935, 1, 65535);

  const jwtSecret = str('JWT_SECRET', '');
  if (jwtSecret && jwtSecret.length < 32) {
    problems.push('JWT_SECRET must be at least 32 characters long.');
  }
  const internalApiKey = str('INTERNAL_API_KEY', '');
  if (internalApiKey && internalApiKey.length < 16) {
    problems.push('INTERNAL_API_KEY must be at least 16 characters long.');
  }
  const expiresRaw = str('JWT_EXPIRES_IN', '7d');
  const jwtExpiresInSeconds = parseDuration(expiresRaw);
  if (jwtExpiresInSeconds === null) {
    problems.push(`JWT_EXPIRES_IN must look like 7d, 12h, 30m or a number of seconds, but it is "${expiresRaw}".`);
  }

  let rtmps: Config['rtmps'] = null;
  const cert = str('RTMPS_CERT', '');
  const key = str('RTMPS_KEY', '');
  if (cert || key) {
    if (!cert || !key) problems.push('RTMPS_CERT and RTMPS_KEY must be given together to enable RTMPS.');
    else rtmps = { port: int('RTMPS_PORT', 1936, 1, 65535), cert: path.resolve(cwd, cert), key: path.resolve(cwd, key) };
  }

  const rtmpCaps = {
    maxConnections: int('RTMP_MAX_CONNECTIONS', 1000, 1, 1_000_000),
    maxConnectionsPerIp: int('RTMP_MAX_CONNECTIONS_PER_IP', 50, 1, 1_000_000),
    maxPending: int('RTMP_MAX_PENDING', 200, 1, 1_000_000),
    maxPendingPerIp: int('RTMP_MAX_PENDING_PER_IP', 10, 1, 1_000_000),
  };
  const capOrder: [keyof typeof rtmpCaps, string, keyof typeof rtmpCaps, string][] = [
    ['maxConnectionsPerIp', 'RTMP_MAX_CONNECTIONS_PER_IP', 'maxConnections', 'RTMP_MAX_CONNECTIONS'],
    ['maxPending', 'RTMP_MAX_PENDING', 'maxConnections', 'RTMP_MAX_CONNECTIONS'],
    ['maxPendingPerIp', 'RTMP_MAX_PENDING_PER_IP', 'maxPending', 'RTMP_MAX_PENDING'],
    ['maxPendingPerIp', 'RTMP_MAX_PENDING_PER_IP', 'maxConnectionsPerIp', 'RTMP_MAX_CONNECTIONS_PER_IP'],
  ];
  for (const [small, smallName, big, bigName] of capOrder) {
    if (rtmpCaps[small] > rtmpCaps[big]) problems.push(`${smallName} (${rtmpCaps[small]}) must not be above ${bigName} (${rtmpCaps[big]}).`);
  }

  const redisPrefix = str('REDIS_PREFIX', 'onair');
  if (!/^[A-Za-z0-9_.-]{1,40}$/.test(redisPrefix)) {
    problems.push('REDIS_PREFIX may only hold letters, digits, "_", "." and "-" (at most 40).');
  }
  const profile = str('TRANSCODE_PROFILE', 'default');
  if (!/^[a-z0-9_-]{1,40}$/.test(profile)) {
    problems.push('TRANSCODE_PROFILE must name a file in ffmpeg-profiles/ (lowercase letters, digits, "_", "-").');
  }
  const logLevel = str('LOG_LEVEL', 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent.');
  }
  const publicScheme = str('PUBLIC_SCHEME', 'http');
  if (publicScheme !== 'http' && publicScheme !== 'https') problems.push('PUBLIC_SCHEME must be http or https.');

  const adminEmail = str('ADMIN_EMAIL', '') || null;
  if (adminEmail && !/^[^\s@]+@[^\s@]+$/.test(adminEmail)) problems.push('ADMIN_EMAIL is not an email address.');
  const adminPassword = str('ADMIN_PASSWORD', '') || null;
  if (adminPassword && adminPassword.length < 8) problems.push('ADMIN_PASSWORD must be at least 8 characters long.');
  if (adminPassword && !adminEmail) problems.push('ADMIN_PASSWORD is set but ADMIN_EMAIL is not.');

  const upstreamList = (name: string, fallback: string): string[] => {
    const list = str(name, fallback)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const u of list) {
      if (!/^[A-Za-z0-9_.-]+:\d{1,5}$/.test(u)) problems.push(`${name} entry "${u}" must look like host:port.`);
    }
    return list;
  };
  const upstreams = upstreamList('API_UPSTREAMS', `127.0.0.1:${port}`);
  const originPort = int('ORIGIN_PORT', 3002, 1, 65535);
  if (originPort === port) problems.push(`ORIGIN_PORT ${originPort} must differ from PORT (the API's).`);
  const originUpstreams = upstreamList('ORIGIN_UPSTREAMS', `127.0.0.1:${originPort}`);

  const host = (name: string, fallback: string, withPort: boolean): string => {
    const v = str(name, fallback);
    const ok = withPort ? /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/ : /^[A-Za-z0-9.-]+$|^\[?[0-9a-fA-F:]+\]?$/;
    if (!ok.test(v)) problems.push(`${name} must be a host name${withPort ? ' with an optional :port' : ''} (no scheme, no path), but it is "${v}".`);
    return v;
  };
  const rtmpHost = host('RTMP_HOST', 'localhost', false);
  const hlsHost = host('HLS_HOST', `localhost:${httpPort}`, true);
  const ingestPullHost = host('INGEST_PULL_HOST', '127.0.0.1', false);
  // every ingest of the deployment (one per public IP) as workers reach it; a job naming any
  // other host or port is refused: the worker never connects where a forged job points it
  const ingestPullHosts: string[] = [];
  for (const entry of str('INGEST_PULL_HOSTS', ingestPullHost).split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(\[[0-9a-fA-F:]+\]|[0-9a-fA-F]*:[0-9a-fA-F:]+|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(entry);
    const bare = m?.[1] && !m[1].startsWith('[') && m[1].includes(':'); // an IPv6 address without brackets
    const port = bare ? rtmpPort : Number(m?.[2] ?? rtmpPort);
    if (!m || port < 1 || port > 65535) {
      problems.push(`INGEST_PULL_HOSTS entry "${entry}" must be a host name or address with an optional :port (no scheme, no path).`);
      continue;
    }
    const name = bare ? `[${m[1]}]` : m[1]!;
    ingestPullHosts.push(`${name.toLowerCase()}:${port}`);
  }
  const corsOrigin = str('CORS_ORIGIN', '*');
  for (const o of corsOrigin === '*' ? [] : corsOrigin.split(',').map((x) => x.trim())) {
    if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o)) problems.push(`CORS_ORIGIN entry "${o}" must be * or an origin like https://example.com.`);
  }

  const trustRaw = str('TRUST_PROXY', 'loopback');
  const trustProxy: string | number = /^\d{1,2}$/.test(trustRaw) ? Number(trustRaw) : trustRaw;
  if (typeof trustProxy === 'string') {
    for (const entry of trustProxy.split(',').map((x) => x.trim())) {
      const [ip, bits, extra] = entry.split('/');
      const named = ['loopback', 'linklocal', 'uniquelocal'].includes(entry);
      const cidr = isIP(ip ?? '') !== 0 && extra === undefined && (bits === undefined || /^\d{1,3}$/.test(bits));
      if (!named && !cidr) problems.push(`TRUST_PROXY entry "${entry}" must be loopback, linklocal, uniquelocal, an IP, a CIDR, or a hop count.`);
    }
  }
  const loginWindowRaw = str('LOGIN_WINDOW', '15m');
  const loginWindow = parseDuration(loginWindowRaw);
  if (loginWindow === null || loginWindow < 1) problems.push(`LOGIN_WINDOW must look like 15m or a number of seconds, but it is "${loginWindowRaw}".`);

  const bindHost = (name: string, fallback: string): string => {
    const v = str(name, fallback);
    if (isIP(v) === 0) problems.push(`${name} must be an IP address to bind to (e.g. 127.0.0.1 or 0.0.0.0), but it is "${v}".`);
    return v;
  };
  const apiHost = bindHost('API_HOST', '127.0.0.1');
  const collectorHost = bindHost('COLLECTOR_HOST', apiHost);
  const originHost = bindHost('ORIGIN_HOST', '127.0.0.1');
  const maxDelayRaw = str('LOGIN_MAX_DELAY', '15m');
  const maxDelay = parseDuration(maxDelayRaw);
  if (maxDelay === null || maxDelay > 86400) problems.push(`LOGIN_MAX_DELAY must look like 15m or a number of seconds (at most 1d), but it is "${maxDelayRaw}".`);
  const hashCost = str('PASSWORD_HASH_COST', 'standard');
  if (hashCost !== 'standard' && hashCost !== 'test') problems.push(`PASSWORD_HASH_COST must be standard (or test, for the test suite only), but it is "${hashCost}".`);
  const rateLimits = {} as RateLimits;
  for (const action of RATE_ACTIONS) {
    const name = `RATE_LIMIT_${action.toUpperCase()}`;
    const raw = str(name, DEFAULT_RATE_LIMITS[action]);
    const parsed = parseRateLimit(raw);
    if (!parsed) problems.push(`${name} must look like 5/1s or 5/1s+5/10s (points per duration, plus an optional burst reserve; durations up to 1d), but it is "${raw}".`);
    rateLimits[action] = parsed ?? parseRateLimit(DEFAULT_RATE_LIMITS[action])!;
  }

  const metricsPort = int('METRICS_PORT', 0, 0, 65535);
  const metricsHost = str('METRICS_HOST', '127.0.0.1');
  if (isIP(metricsHost) === 0 && metricsHost !== 'localhost') problems.push(`METRICS_HOST must be an IP address to bind to (e.g. 127.0.0.1 or 0.0.0.0), but it is "${metricsHost}".`);

  const tokensRaw = str('PLAYBACK_TOKENS', 'on');
  if (tokensRaw !== 'on' && tokensRaw !== 'off') problems.push(`PLAYBACK_TOKENS must be on or off, but it is "${tokensRaw}".`);
  const playbackTokens = tokensRaw !== 'off';
  const playbackSecret = str('PLAYBACK_SECRET', '');
  if (playbackSecret && !/^[A-Za-z0-9_-]{32,128}$/.test(playbackSecret)) {
    // it lands in nginx's configuration: letters, digits, "-" and "_" only
    problems.push('PLAYBACK_SECRET must be 32 to 128 letters, digits, "-" or "_".');
  }
  if (playbackTokens && !playbackSecret && (role === 'api' || role === 'nginx')) {
    problems.push(`PLAYBACK_SECRET is required for the ${role} role while PLAYBACK_TOKENS is on (api and nginx must share it).`);
  }
  const rollupSwitch = str('ANALYTICS_ROLLUP', 'on');
  if (rollupSwitch !== 'on' && rollupSwitch !== 'off') problems.push(`ANALYTICS_ROLLUP must be on or off, but it is "${rollupSwitch}".`);
  const rollupRaw = str('ANALYTICS_ROLLUP_EVERY', '60s');
  const rollupSeconds = parseDuration(rollupRaw);
  if (rollupSeconds === null || rollupSeconds > 3600) problems.push(`ANALYTICS_ROLLUP_EVERY must look like 60s or 1m (at most 1h), but it is "${rollupRaw}".`);

  // the playback window (a "0" is allowed: no lead, no grace)
  const windowPart = (name: string, fallback: string) => {
    const raw = str(name, fallback);
    const seconds = /^0+\s*[smhd]?$/.test(raw.trim()) ? 0 : parseDuration(raw);
    if (seconds === null || seconds > 86400) problems.push(`${name} must look like 15m, 30s or 0 (at most 1d), but it is "${raw}".`);
    return seconds ?? 0;
  };
  const playbackWindow = { leadSeconds: windowPart('PLAYBACK_LEAD', '30m'), graceSeconds: windowPart('PLAYBACK_GRACE', '15m') };
  const gateRaw = str('PLAYBACK_GATE_EVERY', '5s');
  const gateSeconds = parseDuration(gateRaw);
  if (gateSeconds === null || gateSeconds > 60) problems.push(`PLAYBACK_GATE_EVERY must look like 5s (1s to 60s), but it is "${gateRaw}".`);

  const mediaDir = path.resolve(cwd, str('MEDIA_DIR', path.join(dataDir, 'media')));
  // the media dir lands unquoted in nginx's config and in ffmpeg's tee muxer options
  if (!/^\/[A-Za-z0-9_./@+-]*$/.test(mediaDir)) {
    problems.push(`MEDIA_DIR (or DATA_DIR) "${mediaDir}" may only hold letters, digits and _ . / @ + - (no spaces).`);
  }

  const recordingsDir = path.resolve(cwd, str('RECORDINGS_DIR', path.join(dataDir, 'recordings')));
  // like the media dir, it lands unquoted in nginx's config
  if (!/^\/[A-Za-z0-9_./@+-]*$/.test(recordingsDir)) {
    problems.push(`RECORDINGS_DIR (or DATA_DIR) "${recordingsDir}" may only hold letters, digits and _ . / @ + - (no spaces).`);
  }
  const inside = (dir: string, parent: string) => dir === parent || dir.startsWith(parent + path.sep);
  if (inside(recordingsDir, mediaDir) || inside(mediaDir, recordingsDir)) {
    problems.push(`RECORDINGS_DIR "${recordingsDir}" and MEDIA_DIR "${mediaDir}" must not contain each other (a live URL must never open a recording).`);
  }
  const uploadsDir = path.resolve(cwd, str('UPLOADS_DIR', path.join(dataDir, 'uploads')));
  // like the media dir, it lands unquoted in nginx's config
  if (!/^\/[A-Za-z0-9_./@+-]*$/.test(uploadsDir)) {
    problems.push(`UPLOADS_DIR (or DATA_DIR) "${uploadsDir}" may only hold letters, digits and _ . / @ + - (no spaces).`);
  }
  for (const [name, dir] of [['MEDIA_DIR', mediaDir], ['RECORDINGS_DIR', recordingsDir]] as const) {
    if (inside(uploadsDir, dir) || inside(dir, uploadsDir)) {
      problems.push(`UPLOADS_DIR "${uploadsDir}" and ${name} "${dir}" must not contain each other (each is served by nginx under its own path and rules).`);
    }
  }
  const recordRaw = str('RECORD_BY_DEFAULT', 'false');
  if (recordRaw !== 'true' && recordRaw !== 'false') problems.push(`RECORD_BY_DEFAULT must be true or false, but it is "${recordRaw}".`);

  const retentionEveryRaw = str('RECORDING_RETENTION_EVERY', '1h');
  const retentionEvery = parseDuration(retentionEveryRaw);
  if (retentionEvery === null || retentionEvery > 86400) problems.push(`RECORDING_RETENTION_EVERY must look like 1h or 10m (1s to 1d), but it is "${retentionEveryRaw}".`);
  const relay = relaySettings(env, problems, int);
  const childEnv: Record<string, string> = { PATH: str('PATH', '/usr/local/bin:/usr/bin:/bin') };
  for (const name of ['LANG', 'LC_ALL']) if (env[name]?.trim()) childEnv[name] = env[name]!.trim();

  const config: Config = {
    role,
    instanceId: str('INSTANCE_ID', `${role}-${hostname()}-${process.pid}`),
    dataDir,
    mediaDir,
    logDir: path.join(dataDir, 'logs'),
    logLevel,
    logRotation: { maxBytes: int('LOG_MAX_BYTES', 50 * 1024 * 1024, 1024, 2 ** 40), files: int('LOG_FILES', 5, 1, 100) },
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: url('REDIS_URL', ['redis:', 'rediss:']),
    redisPrefix,
    jwtSecret,
    jwtExpiresInSeconds: jwtExpiresInSeconds ?? 7 * 86400,
    port,
    apiHost,
    collectorHost,
    httpPort,
    rtmpPort,
    rtmps,
    rtmpCaps,
    rtmpHost,
    hlsHost,
    publicScheme: publicScheme === 'https' ? 'https' : 'http',
    corsOrigin,
    internalApiKey,
    profile,
    profilesDir: path.resolve(cwd, str('PROFILES_DIR', PROFILES_DIR)),
    ingestPullHost,
    ingestPullHosts,
    childEnv: Object.freeze(childEnv),
    workerConcurrency: int('WORKER_CONCURRENCY', 2, 1, 64),
    apiUpstreams: upstreams,
    origin: { host: originHost, port: originPort, upstreams: originUpstreams },
    adminEmail,
    adminPassword,
    trustProxy,
    // Sized for a venue: 500 attendees behind one NAT address register and sign in within minutes,
    // typos included; strangers are caught per account and per account+IP, not by the IP alone.
    login: {
      accountIpFailures: int('LOGIN_ACCOUNT_IP_LIMIT', 5, 1, 1000),
      ipFailures: int('LOGIN_IP_LIMIT', 1000, 1, 1_000_000),
      accountFailures: int('LOGIN_ACCOUNT_LIMIT', 20, 1, 100_000),
      windowSeconds: loginWindow ?? 900,
      maxDelaySeconds: maxDelay ?? 900,
      registerPerIp: int('REGISTER_IP_LIMIT', 1000, 1, 1_000_000),
      registerPerEmail: int('REGISTER_EMAIL_LIMIT', 5, 1, 1000),
      setPasswordIpFailures: int('SET_PASSWORD_IP_LIMIT', 50, 1, 1_000_000),
      setPasswordTokenAttempts: int('SET_PASSWORD_TOKEN_LIMIT', 5, 1, 1000),
    },
    passwords: {
      cost: hashCost === 'test' ? 'test' : 'standard',
      concurrency: int('PASSWORD_HASH_CONCURRENCY', 2, 1, 64),
      maxWaiting: int('PASSWORD_HASH_QUEUE', 100, 0, 100_000),
    },
    rateLimits,
    rateLimitHoldMs: int('RATE_LIMIT_HOLD_MS', 1_000, 0, 10_000),
    roomRecheckSeconds: int('ROOM_RECHECK_SECONDS', 30, 1, 3600),
    stopCooloffSeconds: int('STOP_COOLOFF_SECONDS', 30, 1, 86_400),
    reconnectGraceSeconds: int('RECONNECT_GRACE_SECONDS', 20, 0, 3600),
    recordings: {
      dir: recordingsDir,
      byDefault: recordRaw === 'true',
      retentionDays: int('RECORDING_RETENTION_DAYS', 30, 0, 36_500),
      retentionEverySeconds: retentionEvery ?? 3600,
      minFreeBytes: int('RECORDING_MIN_FREE_MB', 2048, 0, 1024 * 1024 * 1024) * 1024 * 1024,
    },
    uploadsDir,
    metricsPort,
    metricsHost,
    playbackTokens,
    playbackSecret,
    analyticsRollupSeconds: rollupSeconds ?? 60,
    analyticsRollup: rollupSwitch !== 'off',
    playbackWindow,
    playbackGateSeconds: gateSeconds ?? 5,
    relay,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/**
 * RELAY_KEYS = "id:base64key[,id:base64key…]": each key 32 bytes (AES-256) in base64; ids are
 * 1–16 letters, digits, "_" or "-". The first entry encrypts new destination keys; every entry
 * decrypts (rotation: put the new key first, keep the old one until the API logged that it
 * re-encrypted every row, then drop it).
 */
function relaySettings(env: Env, problems: string[], int: (name: string, fallback: number, min: number, max: number) => number): RelaySettings {
  const raw = env.RELAY_KEYS?.trim() ?? '';
  const keys: RelayKey[] = [];
  for (const [i, entry] of (raw ? raw.split(',').map((x) => x.trim()) : []).entries()) {
    const m = /^([A-Za-z0-9_-]{1,16}):([A-Za-z0-9+/_-]+={0,2})$/.exec(entry);
    // never echo the entry: it is a secret
    if (!m) {
      problems.push(`RELAY_KEYS entry ${i + 1} must look like id:base64key (id: 1 to 16 letters, digits, "_" or "-").`);
      continue;
    }
    const key = Buffer.from(m[2]!.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length !== 32) problems.push(`RELAY_KEYS key "${m[1]}" must be 32 bytes in base64 (e.g. openssl rand -base64 32), but it is ${key.length} bytes.`);
    else if (keys.some((k) => k.id === m[1])) problems.push(`RELAY_KEYS names the key id "${m[1]}" twice.`);
    else keys.push({ id: m[1]!, key });
  }
  const allowRaw = env.RELAY_ALLOW_PRIVATE?.trim() || 'false';
  if (allowRaw !== 'true' && allowRaw !== 'false') problems.push(`RELAY_ALLOW_PRIVATE must be true or false, but it is "${allowRaw}".`);
  const caFile = env.RELAY_CA_FILE?.trim() || null;
  if (caFile !== null && !path.isAbsolute(caFile)) problems.push(`RELAY_CA_FILE must be an absolute path to a PEM file, but it is "${caFile}".`);
  return { maxDestinations: int('RELAY_MAX_DESTINATIONS', 10, 1, 100), allowPrivate: allowRaw === 'true', keys, caFile };
}

/** The public URLs a stream is reached at; one place so API and banner agree. */
export function rtmpIngestUrl(config: Pick<Config, 'rtmpHost' | 'rtmpPort'>): string {
  const port = config.rtmpPort === 1935 ? '' : `:${config.rtmpPort}`;
  return `rtmp://${config.rtmpHost}${port}/live`;
}

/** A stream's HLS master playlist; with a viewer's playback token when tokens are on. */
export function playbackUrl(config: Pick<Config, 'hlsHost' | 'publicScheme'>, playbackId: string, token?: string): string {
  return `${config.publicScheme}://${config.hlsHost}/hls/${playbackId}/${token ? `v/${token}/` : ''}master.m3u8`;
}
