// origin role: the low-latency (LL-HLS) playlist origin beside nginx. It hears every `llhls.part`
// message on the bus, keeps each rendition's newest playlist, and answers the media playlists and
// not-yet-written hinted parts nginx forwards (src/llhls/origin.ts). No database, no media reads.
import { createServer } from 'node:http';
import { answerScrape } from '../metrics.js';
import { LAST_TTL_SECONDS } from '../llhls/feed.js';
import { createOriginHttp } from '../llhls/origin.js';
import { createOriginMetrics } from '../llhls/origin-metrics.js';
import { createOriginState } from '../llhls/origin-state.js';
import { createBus } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { runRole } from './role.js';

/** Renditions held at most (a stream has ~4): a few KB each, a few MB in all. */
const MAX_RENDITIONS = 2_000;
/** Held requests at most: each is one of nginx's upstream connections (size worker_connections to match). */
const MAX_HELD = 20_000;
/** The target duration assumed for a stream not known yet: a directive request waits 3 × this for its first message. */
const DEFAULT_TARGET_DURATION = 2;
/** Above nginx's upstream keepalive_timeout (60 s, nginx/onair.conf.template): nginx always closes an idle connection first, never races our close (stale-socket 502s). */
const KEEP_ALIVE_MS = 75_000;

await runRole('origin', async ({ config, log, onShutdown }) => {
  const redis = createRedis({ url: config.redisUrl!, log, purpose: 'origin' });
  const sub = createRedis({ url: config.redisUrl!, log, purpose: 'origin-sub' });
  onShutdown(() => void (redis.disconnect(), sub.disconnect()));

  let state: ReturnType<typeof createOriginState> | null = null;
  const metrics = createOriginMetrics({ renditions: () => state?.size() ?? 0 });
  state = createOriginState({
    redis,
    prefix: config.redisPrefix,
    log,
    maxEntries: MAX_RENDITIONS,
    idleMs: LAST_TTL_SECONDS * 1000,
    onMessage: (lagMs) => metrics.messageLagSeconds.observe(Math.max(0, lagMs) / 1000),
    onDropped: (why) => metrics.messagesDropped.inc({ why }),
  });
  const sweep = setInterval(() => state.sweep(), 60_000);
  sweep.unref();
  onShutdown(() => clearInterval(sweep));

  const bus = createBus({ pub: redis, sub, prefix: config.redisPrefix, log });
  await bus.subscribe('llhls.part', (message) => state.handle(message));

  const http = createOriginHttp({
    state,
    log,
    metrics,
    defaultTargetDuration: DEFAULT_TARGET_DURATION,
    maxHeld: MAX_HELD,
    ready: () => bus.ready() && sub.status === 'ready',
    scrape: (req, res) => void answerScrape(metrics.registry, config.internalApiKey, req, res),
  });
  const server = createServer((req, res) => http.handle(req, res));
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 5_000; // must exceed keepAliveTimeout
  server.requestTimeout = 0; // a held request is bounded by 3 × TD (≤ 90 s) on our side
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`ORIGIN_PORT ${config.origin.port} on ${config.origin.host} could not be opened (${err.message}): set ORIGIN_PORT to a free port.`)));
    server.listen(config.origin.port, config.origin.host, () => resolve());
  });
  onShutdown(async () => {
    // stop taking requests, answer every held one 503 (nginx passes it on; the player asks again), close idle keep-alives
    const closed = new Promise<void>((r) => server.close(() => r()));
    const n = http.close();
    server.closeIdleConnections();
    log.info({ held: n }, 'Answered the held requests 503.');
    await closed;
  });
  log.info({ host: config.origin.host, port: config.origin.port }, `LL-HLS playlist origin on ${config.origin.host}:${config.origin.port}.`);
});
