// The only reader of process.env. Defaults → env → validate (every problem at once) → frozen object.
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { parseDuration } from './durations.js';
import { PROFILES_DIR } from './paths.js';
import { DEFAULT_RATE_LIMITS, parseRateLimit, RATE_ACTIONS, type RateLimits } from './rate-limit-settings.js';

export { parseDuration } from './durations.js';
export { DEFAULT_RATE_LIMITS, parseRateLimit, RATE_ACTIONS, type RateAction, type RateLimit, type RateLimits } from './rate-limit-settings.js';

export type Role = 'all' | 'api' | 'ingest' | 'worker' | 'migrate' | 'nginx';

export interface Config {
  role: Role;
  instanceId: string; // names this process in logs, leases and publish sessions
  dataDir: string;
  mediaDir: string;
  logDir: string;
  logLevel: string;
  databaseUrl: string | null; // null only for `all`, which then starts its own Postgres
  redisUrl: string | null; // null only for `all`, which then starts its own Redis
  redisPrefix: string; // namespaces every Redis key (BullMQ included): two instances can share a Redis
  jwtSecret: string;
  jwtExpiresInSeconds: number;
  port: number; // API
  httpPort: number; // nginx: HLS, /api, /ws
  rtmpPort: number;
  rtmps: { port: number; cert: string; key: string } | null;
  rtmpHost: string; // what broadcasters are told to connect to
  hlsHost: string; // host[:port] viewers fetch HLS from
  publicScheme: 'http' | 'https';
  corsOrigin: string;
  internalApiKey: string;
  profile: string;
  profilesDir: string;
  ingestPullHost: string; // how workers reach this ingest's RTMP port for the internal pull
  workerConcurrency: number;
  apiUpstreams: string[]; // nginx upstreams for /api and /ws
  adminEmail: string | null;
  adminPassword: string | null;
  /** Express `trust proxy`: which hops may set X-Forwarded-For (per-IP login limits use the client IP). */
  trustProxy: string | number;
  login: { accountFailures: number; ipFailures: number; windowSeconds: number };
  /** Per-user flood limits (Redis, shared by every API node, REST and WebSocket alike): see RATE_LIMIT_*. */
  rateLimits: RateLimits;
  /** REST: how long a `rate_limited` answer is held before it is sent (a tarpit for floods over many connections). */
  rateLimitHoldMs: number;
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

  const upstreams = str('API_UPSTREAMS', `127.0.0.1:${port}`)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const u of upstreams) {
    if (!/^[A-Za-z0-9_.-]+:\d{1,5}$/.test(u)) problems.push(`API_UPSTREAMS entry "${u}" must look like host:port.`);
  }

  const host = (name: string, fallback: string, withPort: boolean): string => {
    const v = str(name, fallback);
    const ok = withPort ? /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/ : /^[A-Za-z0-9.-]+$|^\[?[0-9a-fA-F:]+\]?$/;
    if (!ok.test(v)) problems.push(`${name} must be a host name${withPort ? ' with an optional :port' : ''} (no scheme, no path), but it is "${v}".`);
    return v;
  };
  const rtmpHost = host('RTMP_HOST', 'localhost', false);
  const hlsHost = host('HLS_HOST', `localhost:${httpPort}`, true);
  const ingestPullHost = host('INGEST_PULL_HOST', '127.0.0.1', false);
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

  const mediaDir = path.resolve(cwd, str('MEDIA_DIR', path.join(dataDir, 'media')));
  // the media dir lands unquoted in nginx's config and in ffmpeg's tee muxer options
  if (!/^\/[A-Za-z0-9_./@+-]*$/.test(mediaDir)) {
    problems.push(`MEDIA_DIR (or DATA_DIR) "${mediaDir}" may only hold letters, digits and _ . / @ + - (no spaces).`);
  }

  const config: Config = {
    role,
    instanceId: str('INSTANCE_ID', `${role}-${hostname()}-${process.pid}`),
    dataDir,
    mediaDir,
    logDir: path.join(dataDir, 'logs'),
    logLevel,
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: url('REDIS_URL', ['redis:', 'rediss:']),
    redisPrefix,
    jwtSecret,
    jwtExpiresInSeconds: jwtExpiresInSeconds ?? 7 * 86400,
    port,
    httpPort,
    rtmpPort,
    rtmps,
    rtmpHost,
    hlsHost,
    publicScheme: publicScheme === 'https' ? 'https' : 'http',
    corsOrigin,
    internalApiKey,
    profile,
    profilesDir: path.resolve(cwd, str('PROFILES_DIR', PROFILES_DIR)),
    ingestPullHost,
    workerConcurrency: int('WORKER_CONCURRENCY', 2, 1, 64),
    apiUpstreams: upstreams,
    adminEmail,
    adminPassword,
    trustProxy,
    login: {
      accountFailures: int('LOGIN_ACCOUNT_LIMIT', 10, 1, 100_000),
      ipFailures: int('LOGIN_IP_LIMIT', 100, 1, 1_000_000),
      windowSeconds: loginWindow ?? 900,
    },
    rateLimits,
    rateLimitHoldMs: int('RATE_LIMIT_HOLD_MS', 1_000, 0, 10_000),
    metricsPort,
    metricsHost,
    playbackTokens,
    playbackSecret,
    analyticsRollupSeconds: rollupSeconds ?? 60,
    analyticsRollup: rollupSwitch !== 'off',
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
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
