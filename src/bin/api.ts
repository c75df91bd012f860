// api role: Express REST and the WebSocket endpoint (/ws), behind nginx.
import { createServer } from 'node:http';
import { createRollup, scheduleRollups } from '../analytics/rollup.js';
import { createPool } from '../db/pool.js';
import { createApp } from './api/app.js';
import { createAppDeps } from './api/deps.js';
import { createMetrics } from '../metrics.js';
import { attachWebSockets } from './api/websockets.js';
import { createBus } from '../redis/bus.js';
import { viewerDatagramKey } from '../analytics/viewer-datagram.js';
import { createRedis } from '../redis/connection.js';
import { createRetention, scheduleRetention } from '../recordings/retention.js';
import { freeBytes } from '../recordings/files.js';
import { totalsByStatus } from '../recordings/queries.js';
import { destinationSamples } from '../relays/repo.js';
import { loadProfile } from '../transcode/profiles.js';
import { runRole } from './role.js';

await runRole('api', async ({ config, log, onShutdown }) => {
  await loadProfile(config.profilesDir, config.profile); // TRANSCODE_PROFILE must exist and be valid
  const db = createPool({ url: config.databaseUrl!, log, applicationName: 'onair-api' });
  onShutdown(() => db.end());
  const redis = createRedis({ url: config.redisUrl!, log, purpose: 'api' });
  const sub = createRedis({ url: config.redisUrl!, log, purpose: 'api-sub' });
  onShutdown(() => void (redis.disconnect(), sub.disconnect()));
  const bus = createBus({ pub: redis, sub, prefix: config.redisPrefix, log });

  const metrics = createMetrics('api');
  const deps = createAppDeps({ config, log, db, redis, bus, metrics });
  const server = createServer(createApp(deps));
  const realtime = attachWebSockets(server, deps, { bus, nodeId: config.instanceId });
  server.headersTimeout = 15_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.apiHost, () => resolve());
  });
  onShutdown(async () => {
    await realtime.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
  log.info({ port: config.port, host: config.apiHost }, `API listening on ${config.apiHost} port ${config.port}.`);

  // viewer analytics: nginx's viewer lines arrive over UDP on the same port number as HTTP
  if (config.playbackTokens) {
    await deps.viewerLines.listen(config.port, config.collectorHost, viewerDatagramKey(config.playbackSecret));
    log.info({ port: config.port, host: config.collectorHost }, `Taking nginx's viewer lines on UDP ${config.collectorHost} port ${config.port}.`);
  }
  onShutdown(() => deps.viewerLines.close());
  if (deps.playbackGate) {
    // every node keeps the gate's marker files in line (idempotent; several nodes at once are fine)
    const gate = deps.playbackGate.start(config.playbackGateSeconds);
    onShutdown(() => gate.stop());
    log.info({ everySeconds: config.playbackGateSeconds }, `Playback gate: session windows and bans checked every ${config.playbackGateSeconds} s.`);
  }
  if (config.analyticsRollup) {
    const queueConnection = createRedis({ url: config.redisUrl!, log, purpose: 'api-queue', blocking: true });
    const rollups = await scheduleRollups({
      connection: queueConnection,
      prefix: config.redisPrefix,
      everySeconds: config.analyticsRollupSeconds,
      rollup: createRollup({ db, redis, signals: deps.analytics.signals, log }),
      log,
      metrics: metrics.metrics,
    });
    onShutdown(async () => {
      await rollups.close();
      queueConnection.disconnect();
    });
  }
  // recordings: retention (and orphan directories) by a scheduled job; their disk use in /metrics
  {
    const queueConnection = createRedis({ url: config.redisUrl!, log, purpose: 'api-recordings', blocking: true });
    const { dir, retentionDays, retentionEverySeconds } = config.recordings;
    const retention = await scheduleRetention({
      connection: queueConnection,
      prefix: config.redisPrefix,
      everySeconds: retentionEverySeconds,
      retention: createRetention({ db, dir, retentionDays, log, afterChange: deps.playbackGate?.refresh }),
      log,
    });
    onShutdown(async () => {
      await retention.close();
      queueConnection.disconnect();
    });
    metrics.metrics.readRecordings(async () => ({ byStatus: await totalsByStatus(db), freeBytes: await freeBytes(dir) }));
    log.info({ retentionDays, everySeconds: retentionEverySeconds }, retentionDays > 0 ? `Recordings older than ${retentionDays} day(s) are deleted (checked every ${retentionEverySeconds} s).` : 'Recordings are kept for ever (RECORDING_RETENTION_DAYS=0); directories without a recording are still removed.');
  }
  // relay destinations: counts by status and each one's status in /metrics; keys sealed under an
  // older RELAY_KEYS entry are re-encrypted under the first one (key rotation; every node may do
  // it: each row is swapped once)
  metrics.metrics.readDestinations(() => destinationSamples(db));
  if (config.relay.keys.length === 0) log.warn('RELAY_KEYS is not set: relay destinations cannot be added (and existing ones are not relayed).');
  void deps.destinations.reencrypt().catch((err: unknown) => log.error({ err: (err as Error).message }, 'Could not re-encrypt relay destination keys under the first RELAY_KEYS entry; the next start tries again.'));
  if (config.internalApiKey) log.info({ port: config.port }, `Metrics at http://<this node>:${config.port}/metrics (Authorization: Bearer <INTERNAL_API_KEY>; not proxied by nginx).`);
  else log.info('Metrics are off on this API node: set INTERNAL_API_KEY to serve /metrics.');
});
