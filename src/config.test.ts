import t from 'tap';
import { ConfigError, loadConfig, parseDuration, parseRateLimit, playbackUrl, rtmpIngestUrl } from './config.js';

const base = { DATABASE_URL: 'postgresql://u:p@h/db', REDIS_URL: 'redis://h:6379', JWT_SECRET: 'x'.repeat(32), INTERNAL_API_KEY: 'k'.repeat(16), PLAYBACK_SECRET: 'p'.repeat(32) };

t.test('defaults work for the one-command start', async (t) => {
  const c = loadConfig({}, 'all', '/srv/onair');
  t.equal(c.httpPort, 8080);
  t.equal(c.rtmpPort, 1935);
  t.equal(c.port, 3000);
  t.equal(c.dataDir, '/srv/onair/.onair');
  t.equal(c.mediaDir, '/srv/onair/.onair/media');
  t.equal(c.jwtExpiresInSeconds, 7 * 86400);
  t.equal(c.hlsHost, 'localhost:8080');
  t.equal(c.corsOrigin, '*');
  t.same(c.apiUpstreams, ['127.0.0.1:3000']);
  t.ok(Object.isFrozen(c));
  t.equal(rtmpIngestUrl(c), 'rtmp://localhost/live');
  t.equal(playbackUrl(c, 'abc'), 'http://localhost:8080/hls/abc/master.m3u8');
  t.equal(playbackUrl(c, 'abc', 'tok'), 'http://localhost:8080/hls/abc/v/tok/master.m3u8');
  t.same([c.playbackTokens, c.analyticsRollupSeconds, c.analyticsRollup], [true, 60, true]);
  t.equal(rtmpIngestUrl({ rtmpHost: 'h', rtmpPort: 1940 }), 'rtmp://h:1940/live');
});

t.test('every problem is reported at once, each naming its variable', async (t) => {
  const err = t.throws(() =>
    loadConfig({ ...base, PORT: 'eighty', HTTP_PORT: '70000', JWT_SECRET: 'short', JWT_EXPIRES_IN: 'forever', REDIS_URL: 'http://x', RTMPS_CERT: 'c.pem', LOG_LEVEL: 'loud' }, 'api'),
  ) as ConfigError;
  t.ok(err instanceof ConfigError);
  for (const re of [/PORT must be a whole number from 1 to 65535, but it is "eighty"/, /HTTP_PORT/, /JWT_SECRET must be at least 32/, /JWT_EXPIRES_IN/, /REDIS_URL must start with redis:\/\//, /RTMPS_CERT and RTMPS_KEY/, /LOG_LEVEL/]) {
    t.match(err.message, re);
  }
  t.equal(err.problems.length, 7);
});

t.test('each role requires what it uses', async (t) => {
  t.throws(() => loadConfig({}, 'api'), /DATABASE_URL is required for the api role[\s\S]*REDIS_URL[\s\S]*JWT_SECRET/);
  t.throws(() => loadConfig({ DATABASE_URL: base.DATABASE_URL, REDIS_URL: base.REDIS_URL }, 'worker'), /INTERNAL_API_KEY is required for the worker role/);
  t.doesNotThrow(() => loadConfig({ DATABASE_URL: base.DATABASE_URL }, 'migrate'));
  t.throws(() => loadConfig({ ADMIN_PASSWORD: 'longenough' }, 'all'), /ADMIN_PASSWORD is set but ADMIN_EMAIL is not/);
  t.throws(() => loadConfig({ HLS_HOST: 'http://tv.example/hls' }, 'all'), /HLS_HOST must be a host name with an optional :port/);
  t.throws(() => loadConfig({ RTMP_HOST: 'in.example:1935' }, 'all'), /RTMP_HOST must be a host name/);
  t.throws(() => loadConfig({ CORS_ORIGIN: 'https://a.example, evil' }, 'all'), /CORS_ORIGIN entry "evil"/);
  t.doesNotThrow(() => loadConfig({ HLS_HOST: 'tv.example.com:8443', RTMP_HOST: 'in.example.com', CORS_ORIGIN: 'https://a.example,http://localhost:5173' }, 'all'));
  t.throws(() => loadConfig({ DATA_DIR: '/srv/my media' }, 'all'), /MEDIA_DIR \(or DATA_DIR\) "\/srv\/my media\/media" may only hold/);
  t.throws(() => loadConfig({ API_UPSTREAMS: 'api:3000, bad host' }, 'all'), /API_UPSTREAMS entry "bad host"/);
});

t.test('durations', async (t) => {
  t.equal(parseDuration('7d'), 604800);
  t.equal(parseDuration('12h'), 43200);
  t.equal(parseDuration('30m'), 1800);
  t.equal(parseDuration('45'), 45);
  t.equal(parseDuration('0'), null);
  t.equal(parseDuration('1w'), null);
});

t.test('TRUST_PROXY and the sign-in limits', async (t) => {
  const d = loadConfig(base, 'api');
  t.equal(d.trustProxy, 'loopback');
  t.same(d.login, {
    accountIpFailures: 5,
    ipFailures: 1000,
    accountFailures: 20,
    windowSeconds: 900,
    maxDelaySeconds: 900,
    registerPerIp: 1000,
    registerPerEmail: 5,
    setPasswordIpFailures: 50,
    setPasswordTokenAttempts: 5,
  }, 'defaults sized for a venue (500 attendees behind one address)');
  t.same(d.passwords, { cost: 'standard', concurrency: 2, maxWaiting: 100 }, 'the production hash cost unless a test asks');
  t.equal(loadConfig({ ...base, TRUST_PROXY: '1' }, 'api').trustProxy, 1);
  t.equal(loadConfig({ ...base, TRUST_PROXY: 'loopback, 10.0.0.0/8, fd00::1' }, 'api').trustProxy, 'loopback, 10.0.0.0/8, fd00::1');
  const c = loadConfig({
    ...base,
    LOGIN_ACCOUNT_IP_LIMIT: '4', LOGIN_ACCOUNT_LIMIT: '3', LOGIN_IP_LIMIT: '50', LOGIN_WINDOW: '1h', LOGIN_MAX_DELAY: '2m',
    REGISTER_IP_LIMIT: '7', REGISTER_EMAIL_LIMIT: '2', SET_PASSWORD_IP_LIMIT: '9', SET_PASSWORD_TOKEN_LIMIT: '3',
    PASSWORD_HASH_COST: 'test', PASSWORD_HASH_CONCURRENCY: '1', PASSWORD_HASH_QUEUE: '0',
  }, 'api');
  t.same(c.login, {
    accountIpFailures: 4, ipFailures: 50, accountFailures: 3, windowSeconds: 3600, maxDelaySeconds: 120,
    registerPerIp: 7, registerPerEmail: 2, setPasswordIpFailures: 9, setPasswordTokenAttempts: 3,
  });
  t.same(c.passwords, { cost: 'test', concurrency: 1, maxWaiting: 0 });
  const err = t.throws(() => loadConfig({
    ...base, TRUST_PROXY: 'everyone, 10.0.0.0/8/9', LOGIN_ACCOUNT_LIMIT: '0', LOGIN_WINDOW: 'soon', LOGIN_ACCOUNT_IP_LIMIT: 'x', LOGIN_MAX_DELAY: '2d',
    REGISTER_IP_LIMIT: '0', REGISTER_EMAIL_LIMIT: '-1', SET_PASSWORD_IP_LIMIT: '1.5', SET_PASSWORD_TOKEN_LIMIT: '0',
    PASSWORD_HASH_COST: 'cheap', PASSWORD_HASH_CONCURRENCY: '0', PASSWORD_HASH_QUEUE: 'lots',
  }, 'api')) as ConfigError;
  t.match(err.message, /TRUST_PROXY entry "everyone"/);
  t.match(err.message, /TRUST_PROXY entry "10.0.0.0\/8\/9"/);
  t.match(err.message, /LOGIN_ACCOUNT_LIMIT must be a whole number from 1/);
  t.match(err.message, /LOGIN_ACCOUNT_IP_LIMIT must be a whole number from 1/);
  t.match(err.message, /LOGIN_WINDOW must look like 15m/);
  t.match(err.message, /LOGIN_MAX_DELAY must look like 15m .*at most 1d/);
  for (const name of ['REGISTER_IP_LIMIT', 'REGISTER_EMAIL_LIMIT', 'SET_PASSWORD_IP_LIMIT', 'SET_PASSWORD_TOKEN_LIMIT', 'PASSWORD_HASH_CONCURRENCY', 'PASSWORD_HASH_QUEUE']) {
    t.match(err.message, new RegExp(`${name} must be a whole number`), name);
  }
  t.match(err.message, /PASSWORD_HASH_COST must be standard \(or test, for the test suite only\), but it is "cheap"/);
});

t.test('the metrics port and host', async (t) => {
  const d = loadConfig(base, 'ingest');
  t.equal(d.metricsPort, 0, 'off unless set');
  t.equal(d.metricsHost, '127.0.0.1', 'internal by default');
  const c = loadConfig({ ...base, METRICS_PORT: '9100', METRICS_HOST: '0.0.0.0' }, 'worker');
  t.equal(c.metricsPort, 9100);
  t.equal(c.metricsHost, '0.0.0.0');
  const err = t.throws(() => loadConfig({ ...base, METRICS_PORT: '70000', METRICS_HOST: 'metrics.example' }, 'ingest')) as ConfigError;
  t.match(err.message, /METRICS_PORT must be a whole number from 0 to 65535/);
  t.match(err.message, /METRICS_HOST must be an IP address/);
});

t.test('playback tokens and analytics settings', async (t) => {
  t.throws(() => loadConfig({ ...base, PLAYBACK_SECRET: '' }, 'api'), /PLAYBACK_SECRET is required for the api role/);
  t.throws(() => loadConfig({}, 'nginx'), /PLAYBACK_SECRET is required for the nginx role/);
  t.equal(loadConfig({ PLAYBACK_TOKENS: 'off' }, 'nginx').playbackTokens, false, 'no secret needed with tokens off');
  const err = t.throws(() => loadConfig({ ...base, PLAYBACK_SECRET: 'has spaces and is long enough to pass', PLAYBACK_TOKENS: 'maybe', ANALYTICS_ROLLUP_EVERY: '2h', ANALYTICS_ROLLUP: 'sometimes' }, 'api')) as ConfigError;
  t.equal(err.problems.length, 4);
  t.match(err.problems.join("\n"), /PLAYBACK_TOKENS must be on or off[\s\S]*PLAYBACK_SECRET must be 32 to 128[\s\S]*ANALYTICS_ROLLUP must be on or off[\s\S]*ANALYTICS_ROLLUP_EVERY/);
  t.equal(loadConfig({ ...base, ANALYTICS_ROLLUP_EVERY: '2s' }, 'api').analyticsRollupSeconds, 2);
});

t.test('the playback window: lead, grace and the gate period', async (t) => {
  const d = loadConfig(base, 'api');
  t.same(d.playbackWindow, { leadSeconds: 1800, graceSeconds: 900 }, 'defaults: 30 minutes lead, 15 minutes grace');
  t.equal(d.playbackGateSeconds, 5);
  const c = loadConfig({ ...base, PLAYBACK_LEAD: '0', PLAYBACK_GRACE: '2h', PLAYBACK_GATE_EVERY: '1s' }, 'api');
  t.same([c.playbackWindow, c.playbackGateSeconds], [{ leadSeconds: 0, graceSeconds: 7200 }, 1]);
  t.same(loadConfig({ ...base, PLAYBACK_GRACE: '0s' }, 'api').playbackWindow.graceSeconds, 0);
  const err = t.throws(() => loadConfig({ ...base, PLAYBACK_LEAD: 'soon', PLAYBACK_GRACE: '2d', PLAYBACK_GATE_EVERY: '5m' }, 'api')) as ConfigError;
  t.equal(err.problems.length, 3);
  t.match(err.problems.join('\n'), /PLAYBACK_LEAD must look like 15m, 30s or 0 \(at most 1d\), but it is "soon"[\s\S]*PLAYBACK_GRACE[^\n]*"2d"[\s\S]*PLAYBACK_GATE_EVERY must look like 5s \(1s to 60s\), but it is "5m"/);
});

t.test('the API and the viewer-line collector bind to loopback unless told (compose: 0.0.0.0)', async (t) => {
  const d = loadConfig(base, 'api');
  t.equal(d.apiHost, '127.0.0.1');
  t.equal(d.collectorHost, '127.0.0.1');
  const c = loadConfig({ ...base, API_HOST: '0.0.0.0' }, 'api');
  t.equal(c.apiHost, '0.0.0.0');
  t.equal(c.collectorHost, '0.0.0.0', 'the collector follows API_HOST');
  t.equal(loadConfig({ ...base, API_HOST: '0.0.0.0', COLLECTOR_HOST: '10.0.0.5' }, 'api').collectorHost, '10.0.0.5');
  const err = t.throws(() => loadConfig({ ...base, API_HOST: 'api.example', COLLECTOR_HOST: 'everywhere' }, 'api')) as ConfigError;
  t.match(err.message, /API_HOST must be an IP address to bind to/);
  t.match(err.message, /COLLECTOR_HOST must be an IP address to bind to/);
});

t.test('log rotation: 50 MiB × 5 files unless told', async (t) => {
  t.same(loadConfig({}, 'all').logRotation, { maxBytes: 50 * 1024 * 1024, files: 5 });
  t.same(loadConfig({ LOG_MAX_BYTES: '4096', LOG_FILES: '3' }, 'all').logRotation, { maxBytes: 4096, files: 3 });
  const err = t.throws(() => loadConfig({ LOG_MAX_BYTES: '10', LOG_FILES: '0' }, 'all')) as ConfigError;
  t.match(err.message, /LOG_MAX_BYTES must be a whole number from 1024/);
  t.match(err.message, /LOG_FILES must be a whole number from 1 to 100/);
});

t.test('RTMP connection caps: defaults, overrides, and an order that makes sense', async (t) => {
  t.same(loadConfig(base, 'ingest').rtmpCaps, { maxConnections: 1000, maxConnectionsPerIp: 50, maxPending: 200, maxPendingPerIp: 10 });
  const c = loadConfig({ ...base, RTMP_MAX_CONNECTIONS: '20', RTMP_MAX_CONNECTIONS_PER_IP: '5', RTMP_MAX_PENDING: '8', RTMP_MAX_PENDING_PER_IP: '2' }, 'ingest');
  t.same(c.rtmpCaps, { maxConnections: 20, maxConnectionsPerIp: 5, maxPending: 8, maxPendingPerIp: 2 });
  const err = t.throws(() => loadConfig({ ...base, RTMP_MAX_CONNECTIONS: '10', RTMP_MAX_CONNECTIONS_PER_IP: '0', RTMP_MAX_PENDING: '11', RTMP_MAX_PENDING_PER_IP: 'many' }, 'ingest')) as ConfigError;
  t.match(err.message, /RTMP_MAX_CONNECTIONS_PER_IP must be a whole number from 1 to 1000000, but it is "0"/);
  t.match(err.message, /RTMP_MAX_PENDING_PER_IP must be a whole number/);
  t.match(err.message, /RTMP_MAX_PENDING \(11\) must not be above RTMP_MAX_CONNECTIONS \(10\)/);
  t.throws(() => loadConfig({ ...base, RTMP_MAX_CONNECTIONS_PER_IP: '5', RTMP_MAX_PENDING_PER_IP: '6' }, 'ingest'), /RTMP_MAX_PENDING_PER_IP \(6\) must not be above RTMP_MAX_CONNECTIONS_PER_IP \(5\)/);
});

t.test('children such as ffmpeg get PATH and the locale, and none of the secrets', async (t) => {
  const c = loadConfig({ ...base, PATH: '/opt/ff/bin:/usr/bin', LANG: 'C.UTF-8', HOME: '/root', AWS_SECRET_ACCESS_KEY: 'aws' }, 'worker');
  t.same(c.childEnv, { PATH: '/opt/ff/bin:/usr/bin', LANG: 'C.UTF-8' });
  t.ok(Object.isFrozen(c.childEnv));
  t.same(loadConfig({ DATABASE_URL: base.DATABASE_URL }, 'migrate').childEnv, { PATH: '/usr/local/bin:/usr/bin:/bin' }, 'a PATH even when none is set');
});

t.test('the ingests a worker may pull from: INGEST_PULL_HOSTS, by default INGEST_PULL_HOST', async (t) => {
  t.same(loadConfig(base, 'worker').ingestPullHosts, ['127.0.0.1:1935']);
  t.same(loadConfig({ ...base, INGEST_PULL_HOST: 'ingest', RTMP_PORT: '1940' }, 'worker').ingestPullHosts, ['ingest:1940']);
  t.same(loadConfig({ ...base, INGEST_PULL_HOSTS: 'Ingest-A.example.com, 10.0.0.7:1936,[fd00::7]:1935, ::1' }, 'worker').ingestPullHosts, [
    'ingest-a.example.com:1935',
    '10.0.0.7:1936',
    '[fd00::7]:1935',
    '[::1]:1935',
  ]);
  const err = t.throws(() => loadConfig({ ...base, INGEST_PULL_HOSTS: 'rtmp://x/live,ok,h:99999,a b' }, 'worker')) as ConfigError;
  t.equal(err.problems.length, 3);
  t.match(err.message, /INGEST_PULL_HOSTS entry "rtmp:\/\/x\/live" must be a host name/);
});

t.test('per-user rate limits: defaults, the format, and every bad value named', async (t) => {
  const d = loadConfig(base, 'api');
  t.same(d.rateLimits.chat, { points: 5, seconds: 1, burst: { points: 5, seconds: 10 } }, 'chat: 5/s, bursts up to 10');
  t.same(d.rateLimits.question, { points: 1, seconds: 5, burst: { points: 2, seconds: 60 } }, 'a question per 5 s, 3 at once');
  t.same([d.rateLimits.vote.points, d.rateLimits.upvote.points, d.rateLimits.vote.burst?.points], [5, 5, 5]);
  t.same(d.rateLimits.typing, { points: 1, seconds: 2, burst: null });
  t.same(d.rateLimits.join, { points: 10, seconds: 60, burst: null });
  t.same(d.rateLimits.import, { points: 6, seconds: 3600, burst: null });
  const c = loadConfig({ ...base, RATE_LIMIT_CHAT: '20/1m', RATE_LIMIT_JOIN: ' 3 / 10s + 1/1h ' }, 'api');
  t.same(c.rateLimits.chat, { points: 20, seconds: 60, burst: null });
  t.same(c.rateLimits.join, { points: 3, seconds: 10, burst: { points: 1, seconds: 3600 } });
  for (const bad of ['5', '0/1s', '5/0s', '5/1w', '5/1s+', '5/1s+0/10s', 'five/1s', '5/2d', '-1/1s']) t.equal(parseRateLimit(bad), null, `"${bad}" refused`);
  const err = t.throws(() => loadConfig({ ...base, RATE_LIMIT_CHAT: '5 per second', RATE_LIMIT_IMPORT: '6/1w' }, 'api')) as ConfigError;
  t.match(err.message, /RATE_LIMIT_CHAT must look like 5\/1s or 5\/1s\+5\/10s .* but it is "5 per second"/);
  t.match(err.message, /RATE_LIMIT_IMPORT must look like .* but it is "6\/1w"/);
  t.equal(err.problems.length, 2);
});

t.test('RATE_LIMIT_HOLD_MS: a second by default, 0 to 10 s', async (t) => {
  t.equal(loadConfig(base, 'api').rateLimitHoldMs, 1_000);
  t.equal(loadConfig({ ...base, RATE_LIMIT_HOLD_MS: '0' }, 'api').rateLimitHoldMs, 0);
  t.throws(() => loadConfig({ ...base, RATE_LIMIT_HOLD_MS: '20000' }, 'api'), /RATE_LIMIT_HOLD_MS must be a whole number from 0 to 10000, but it is "20000"/);
});

t.test('STOP_COOLOFF_SECONDS: 30 s by default, 1 s to a day', async (t) => {
  t.equal(loadConfig(base, 'api').stopCooloffSeconds, 30);
  t.equal(loadConfig({ ...base, STOP_COOLOFF_SECONDS: '5' }, 'api').stopCooloffSeconds, 5);
  for (const bad of ['0', '86401', '2.5', 'later']) {
    t.throws(() => loadConfig({ ...base, STOP_COOLOFF_SECONDS: bad }, 'api'), new RegExp(`STOP_COOLOFF_SECONDS must be a whole number from 1 to 86400, but it is "${bad}"`));
  }
});

t.test('ROOM_RECHECK_SECONDS: 30 s by default, 1 s to an hour', async (t) => {
  t.equal(loadConfig(base, 'api').roomRecheckSeconds, 30);
  t.equal(loadConfig({ ...base, ROOM_RECHECK_SECONDS: '2' }, 'api').roomRecheckSeconds, 2);
  for (const bad of ['0', '3601', '1.5', 'soon']) {
    t.throws(() => loadConfig({ ...base, ROOM_RECHECK_SECONDS: bad }, 'api'), new RegExp(`ROOM_RECHECK_SECONDS must be a whole number from 1 to 3600, but it is "${bad}"`));
  }
});

t.test('RECONNECT_GRACE_SECONDS: 20 s by default, 0 (no grace) to an hour', async (t) => {
  t.equal(loadConfig(base, 'worker').reconnectGraceSeconds, 20);
  t.equal(loadConfig({ ...base, RECONNECT_GRACE_SECONDS: '0' }, 'worker').reconnectGraceSeconds, 0);
  t.throws(() => loadConfig({ ...base, RECONNECT_GRACE_SECONDS: '3601' }, 'worker'), /RECONNECT_GRACE_SECONDS must be a whole number from 0 to 3600, but it is "3601"/);
});

t.test('recordings: their own directory beside the media dir, off by default, 30 days, a 2 GiB floor', async (t) => {
  const c = loadConfig({ ...base, DATA_DIR: '/srv/onair' }, 'worker');
  t.same(c.recordings, { dir: '/srv/onair/recordings', byDefault: false, retentionDays: 30, retentionEverySeconds: 3600, minFreeBytes: 2048 * 1024 * 1024 });
  const set = loadConfig({ ...base, RECORDINGS_DIR: '/mnt/rec', RECORD_BY_DEFAULT: 'true', RECORDING_RETENTION_DAYS: '0', RECORDING_MIN_FREE_MB: '10' }, 'worker');
  t.same(set.recordings, { dir: '/mnt/rec', byDefault: true, retentionDays: 0, retentionEverySeconds: 3600, minFreeBytes: 10 * 1024 * 1024 });
  const err = t.throws(() => loadConfig({ ...base, DATA_DIR: '/srv/onair', RECORDINGS_DIR: '/srv/onair/media/rec', RECORD_BY_DEFAULT: 'yes', RECORDING_RETENTION_DAYS: '-1' }, 'worker')) as ConfigError;
  t.match(err.message, /RECORDINGS_DIR "\/srv\/onair\/media\/rec" and MEDIA_DIR "\/srv\/onair\/media" must not contain each other/);
  t.match(err.message, /RECORD_BY_DEFAULT must be true or false, but it is "yes"/);
  t.match(err.message, /RECORDING_RETENTION_DAYS must be a whole number from 0 to 36500, but it is "-1"/);
  t.throws(() => loadConfig({ ...base, RECORDINGS_DIR: '/mnt/my recordings' }, 'worker'), /RECORDINGS_DIR \(or DATA_DIR\) "\/mnt\/my recordings" may only hold/);
});

t.test('RECORDING_RETENTION_EVERY: hourly by default, 1 s to a day', async (t) => {
  t.equal(loadConfig({ ...base, RECORDING_RETENTION_EVERY: '10m' }, 'api').recordings.retentionEverySeconds, 600);
  t.throws(() => loadConfig({ ...base, RECORDING_RETENTION_EVERY: '2d' }, 'api'), /RECORDING_RETENTION_EVERY must look like 1h or 10m \(1s to 1d\), but it is "2d"/);
  t.throws(() => loadConfig({ ...base, RECORDING_RETENTION_EVERY: 'soon' }, 'api'), /RECORDING_RETENTION_EVERY must look like 1h or 10m \(1s to 1d\), but it is "soon"/);
});

t.test('relays: 10 destinations, no private addresses, RELAY_KEYS parsed (first encrypts) and never echoed', async (t) => {
  const c = loadConfig(base, 'api');
  t.same({ max: c.relay.maxDestinations, allowPrivate: c.relay.allowPrivate, keys: c.relay.keys, caFile: c.relay.caFile }, { max: 10, allowPrivate: false, keys: [], caFile: null }, 'unset: no keys (destinations are refused until RELAY_KEYS is set)');
  const k1 = Buffer.alloc(32, 1).toString('base64');
  const k2 = Buffer.alloc(32, 2).toString('base64url');
  const set = loadConfig({ ...base, RELAY_MAX_DESTINATIONS: '3', RELAY_ALLOW_PRIVATE: 'true', RELAY_KEYS: ` new:${k2} , old:${k1}` }, 'worker');
  t.equal(set.relay.maxDestinations, 3);
  t.equal(set.relay.allowPrivate, true);
  t.same(set.relay.keys.map((k) => [k.id, k.key.toString('hex')]), [['new', Buffer.alloc(32, 2).toString('hex')], ['old', Buffer.alloc(32, 1).toString('hex')]]);
  t.equal(loadConfig({ ...base, RELAY_CA_FILE: '/etc/onair/relay-ca.pem' }, 'worker').relay.caFile, '/etc/onair/relay-ca.pem');
  t.throws(() => loadConfig({ ...base, RELAY_CA_FILE: 'relay-ca.pem' }, 'worker'), /RELAY_CA_FILE must be an absolute path to a PEM file, but it is "relay-ca.pem"/);
  const secretish = 'c2VjcmV0LXNob3J0LWtleQ==';
  const err = t.throws(() => loadConfig({ ...base, RELAY_MAX_DESTINATIONS: '0', RELAY_ALLOW_PRIVATE: 'yes', RELAY_KEYS: `a:${secretish},${k1},a:${k1},a:${k1}` }, 'api')) as ConfigError;
  t.match(err.message, /RELAY_MAX_DESTINATIONS must be a whole number from 1 to 100, but it is "0"/);
  t.match(err.message, /RELAY_ALLOW_PRIVATE must be true or false, but it is "yes"/);
  t.match(err.message, /RELAY_KEYS key "a" must be 32 bytes in base64 \(e\.g\. openssl rand -base64 32\), but it is 16 bytes/);
  t.match(err.message, /RELAY_KEYS entry 2 must look like id:base64key/, 'an entry without an id');
  t.match(err.message, /RELAY_KEYS names the key id "a" twice/);
  t.notMatch(err.message, secretish, 'no key material in the message');
  t.notMatch(err.message, k1, 'none at all');
});

t.test('the low-latency playlist origin: its port, bind address and nginx upstreams', async (t) => {
  const c = loadConfig({}, 'all');
  t.same(c.origin, { host: '127.0.0.1', port: 3002, upstreams: ['127.0.0.1:3002'] }, 'one-box defaults: loopback, nginx finds it');
  t.same(loadConfig({ ORIGIN_PORT: '4100' }, 'all').origin.upstreams, ['127.0.0.1:4100'], 'the upstream follows ORIGIN_PORT');
  const compose = loadConfig({ REDIS_URL: base.REDIS_URL, ORIGIN_HOST: '0.0.0.0', ORIGIN_UPSTREAMS: 'origin:3002, origin2:3002' }, 'origin');
  t.same(compose.origin, { host: '0.0.0.0', port: 3002, upstreams: ['origin:3002', 'origin2:3002'] });
  t.throws(() => loadConfig({}, 'origin'), /REDIS_URL is required for the origin role/);
  const err = t.throws(() => loadConfig({ ORIGIN_PORT: '0', ORIGIN_HOST: 'origin.local', ORIGIN_UPSTREAMS: 'origin' }, 'all')) as ConfigError;
  for (const re of [/ORIGIN_PORT must be a whole number from 1 to 65535, but it is "0"/, /ORIGIN_HOST must be an IP address/, /ORIGIN_UPSTREAMS entry "origin" must look like host:port/]) t.match(err.message, re);
  t.throws(() => loadConfig({ PORT: '3002' }, 'all'), /ORIGIN_PORT 3002 must differ from PORT/);
});

t.test('UPLOADS_DIR: under the data dir unless told; a path nginx can take, apart from the media and recordings dirs', async (t) => {
  t.equal(loadConfig({}, 'all', '/srv/onair').uploadsDir, '/srv/onair/.onair/uploads');
  t.equal(loadConfig({ ...base, DATA_DIR: '/var/lib/onair' }, 'api').uploadsDir, '/var/lib/onair/uploads');
  t.equal(loadConfig({ ...base, UPLOADS_DIR: '/mnt/uploads' }, 'nginx').uploadsDir, '/mnt/uploads');
  t.equal(loadConfig({ ...base, UPLOADS_DIR: 'up' }, 'api', '/srv/x').uploadsDir, '/srv/x/up', 'relative to the working directory');
  const err = t.throws(() => loadConfig({ ...base, DATA_DIR: '/srv/onair', UPLOADS_DIR: '/srv/onair/media/up', RECORDINGS_DIR: '/srv/rec' }, 'api')) as ConfigError;
  t.match(err.message, /UPLOADS_DIR "\/srv\/onair\/media\/up" and MEDIA_DIR "\/srv\/onair\/media" must not contain each other/);
  t.throws(() => loadConfig({ ...base, UPLOADS_DIR: '/srv/rec/u', RECORDINGS_DIR: '/srv/rec' }, 'api'), /UPLOADS_DIR "\/srv\/rec\/u" and RECORDINGS_DIR "\/srv\/rec" must not contain each other/);
  t.throws(() => loadConfig({ ...base, UPLOADS_DIR: '/mnt/my uploads' }, 'api'), /UPLOADS_DIR \(or DATA_DIR\) "\/mnt\/my uploads" may only hold/);
});

t.test('RATE_LIMIT_UPLOAD: 30 a minute with 30 more in ten minutes unless told', async (t) => {
  t.same(loadConfig(base, 'api').rateLimits.upload, { points: 30, seconds: 60, burst: { points: 30, seconds: 600 } });
  t.same(loadConfig({ ...base, RATE_LIMIT_UPLOAD: '2/1m' }, 'api').rateLimits.upload, { points: 2, seconds: 60, burst: null });
  t.throws(() => loadConfig({ ...base, RATE_LIMIT_UPLOAD: 'lots' }, 'api'), /RATE_LIMIT_UPLOAD must look like 5\/1s/);
});
