// ingest role: RTMP/RTMPS listener, publish authorisation, enqueueing and cancelling transcodes.
import { createPool } from '../db/pool.js';
import { createRtmpIngest } from '../ingest/rtmp-server.js';
import { createBus } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { createStreamsService } from '../streams/service.js';
import { createTranscodeJobs } from '../transcode/jobs.js';
import { portIsFree } from '../local/processes.js';
import { createMetrics } from '../metrics.js';
import { startMetricsServer } from './metrics-server.js';
import { loadProfile } from '../transcode/profiles.js';
import { runRole } from './role.js';

await runRole('ingest', async ({ config, log, onShutdown }) => {
  await loadProfile(config.profilesDir, config.profile); // TRANSCODE_PROFILE must exist and be valid
  // node-media-server exits the process on a listen error: say why first
  for (const [name, port] of [['RTMP_PORT', config.rtmpPort], ['RTMPS_PORT', config.rtmps?.port]] as const) {
    if (port && !(await portIsFree(port))) throw new Error(`${name} ${port} is already in use: stop what uses it or set ${name} to a free port.`);
  }
  const db = createPool({ url: config.databaseUrl!, log, applicationName: 'onair-ingest' });
  onShutdown(() => db.end());
  const redis = createRedis({ url: config.redisUrl!, log, purpose: 'ingest' });
  const sub = createRedis({ url: config.redisUrl!, log, purpose: 'ingest-sub' });
  const queueConnection = createRedis({ url: config.redisUrl!, log, purpose: 'ingest-queue', blocking: true });
  onShutdown(() => void (redis.disconnect(), sub.disconnect(), queueConnection.disconnect()));
  const bus = createBus({ pub: redis, sub, prefix: config.redisPrefix, log });
  const jobs = createTranscodeJobs({ connection: queueConnection, prefix: config.redisPrefix });
  onShutdown(() => jobs.close());

  const streams = createStreamsService({
    db,
    bus,
    log,
    jobs,
    ingestId: config.instanceId,
    pullBaseUrl: `rtmp://${config.ingestPullHost}:${config.rtmpPort}/internal`,
    defaultProfile: config.profile,
    profileExists: (name) => loadProfile(config.profilesDir, name).then(() => true, () => false),
    segmentSeconds: (name) => loadProfile(config.profilesDir, name).then((p) => p.segmentSeconds),
    recordByDefault: config.recordings.byDefault,
    reconnectGraceSeconds: config.reconnectGraceSeconds,
  });
  const metrics = createMetrics('ingest');
  const ingest = createRtmpIngest({ core: streams, log, port: config.rtmpPort, rtmps: config.rtmps, internalApiKey: config.internalApiKey, caps: config.rtmpCaps, metrics: metrics.metrics });
  // an operator's action (key regenerated, stream disabled/stopped/deleted); the heartbeat's
  // re-check (touch) drops the same publishers if this message is lost
  await bus.subscribe('stream.drop-publisher', ({ streamId, reason }) => {
    if (ingest.disconnectStream(streamId, reason) > 0) log.info({ streamId, reason }, 'Dropped the publisher of a stream on an operator’s action.');
  });
  // a publisher with the key waits at another ingest while this one holds a silent connection
  await bus.subscribe('stream.silent-takeover', ({ publishSessionId, connection }) => void ingest.dropIfSilent(publishSessionId, connection));
  ingest.start();
  onShutdown(() => ingest.stop());
  await startMetricsServer({ config, log, onShutdown, registry: metrics.registry });
});
