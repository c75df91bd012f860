// worker role: BullMQ worker running one ffmpeg per live stream.
import { Worker } from 'bullmq';
import { createPool } from '../db/pool.js';
import { createBus } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { createMetrics } from '../metrics.js';
import { createTranscodeCore } from '../streams/transcode-core.js';
import { createCancelListener, createQueueCounts, LIVE_WORKER_OPTIONS, TRANSCODE_QUEUE } from '../transcode/jobs.js';
import { startBrokenLivesSweep } from '../transcode/broken-lives.js';
import { hlsLadderOutput } from '../transcode/hls-ladder-output.js';
import { createLlFeed } from '../llhls/feed-publisher.js';
import { llHlsOutput } from '../llhls/ll-output.js';
import { thumbnailOutput } from '../transcode/thumbnail-output.js';
import { createLiveJobHandler } from '../transcode/live-job.js';
import { loadProfile } from '../transcode/profiles.js';
import { startMetricsServer } from './metrics-server.js';
import { mkdir, readFile } from 'node:fs/promises';
import { createFinaliseQueue, RECORDINGS_QUEUE } from '../recordings/jobs.js';
import { createFinaliseHandler } from '../recordings/finalise.js';
import { startRecordingSweep } from '../recordings/sweep.js';
import { recordingOutput } from '../recordings/recording-output.js';
import type { RecorderDeps } from '../recordings/recorder.js';
import type { LiveTranscodeJob } from '../streams/types.js';
import { AppError } from '../errors.js';
import { PermanentRelayError } from '../relays/destination-relay.js';
import { relayOutput, type RelayOutputDeps } from '../relays/relay-output.js';
import { RtmpPublisher } from '../relays/rtmp-publisher.js';
import { createDestinationsService } from '../relays/service.js';
import { recordRelayStatus } from '../relays/status.js';
import { checkDestinationHost } from '../relays/url-check.js';
import { runRole } from './role.js';

await runRole('worker', async ({ config, log, onShutdown }) => {
  await loadProfile(config.profilesDir, config.profile); // TRANSCODE_PROFILE must exist and be valid
  process.umask(0o022); // segments 644, directories 755: nginx workers read them unprivileged
  const db = createPool({ url: config.databaseUrl!, log, applicationName: 'onair-worker' });
  onShutdown(() => db.end());
  const redis = createRedis({ url: config.redisUrl!, log, purpose: 'worker' });
  const sub = createRedis({ url: config.redisUrl!, log, purpose: 'worker-sub' });
  const connection = createRedis({ url: config.redisUrl!, log, purpose: 'worker-queue', blocking: true });
  onShutdown(() => void (redis.disconnect(), sub.disconnect(), connection.disconnect()));
  const bus = createBus({ pub: redis, sub, prefix: config.redisPrefix, log });

  await mkdir(config.recordings.dir, { recursive: true, mode: 0o755 });
  const finaliseQueue = createFinaliseQueue({ connection: redis, prefix: config.redisPrefix });
  onShutdown(() => finaliseQueue.close());
  const metrics = createMetrics('worker');
  const core = createTranscodeCore({ db, bus, log });
  const relayDeps = await createRelayDeps();
  const llFeed = createLlFeed({ bus, redis, prefix: config.redisPrefix, log });
  const recorderDeps = (job: LiveTranscodeJob): RecorderDeps => ({
    db,
    finalise: finaliseQueue,
    recordingsDir: config.recordings.dir,
    minFreeBytes: config.recordings.minFreeBytes,
    playbackWindow: config.playbackWindow,
    reconnectGraceSeconds: config.reconnectGraceSeconds,
    log,
    note: (level, message) => core.note(job.publishSessionId, level, message),
  });
  const handler = createLiveJobHandler({
    core,
    redis,
    log,
    workerId: config.instanceId,
    mediaDir: config.mediaDir,
    profilesDir: config.profilesDir,
    redisPrefix: config.redisPrefix,
    internalApiKey: config.internalApiKey,
    childEnv: config.childEnv,
    pullHosts: config.ingestPullHosts,
    metrics: metrics.metrics,
    // the outputs every live transcode has: the HLS ladder first (the stream is live when it is
    // ready); recordings, thumbnails and relays join `others` and fail alone
    // (a low-latency stream's primary is the LL-HLS packager instead: same ladder, parts for the origin)
    outputsFor: (job) => ({
      primary: job.lowLatency
        ? llHlsOutput({ job, mediaDir: config.mediaDir, feed: llFeed, log: log.child({ streamId: job.streamId, publishSessionId: job.publishSessionId }), metrics: metrics.metrics })
        : hlsLadderOutput({ job, mediaDir: config.mediaDir, metrics: metrics.metrics }),
      others: [
        ...(job.record ? [recordingOutput({ job, mediaDir: config.mediaDir, deps: recorderDeps(job) })] : []),
        thumbnailOutput({ job, mediaDir: config.mediaDir, metrics: metrics.metrics }),
        relayOutput({ streamId: job.streamId, deps: relayDeps }),
      ],
    }),
  });
  const worker = new Worker(TRANSCODE_QUEUE, handler, {
    connection,
    prefix: config.redisPrefix,
    concurrency: config.workerConcurrency,
    ...LIVE_WORKER_OPTIONS,
  });
  worker.on('failed', (job, err) => log.warn({ jobId: job?.id, err: err.message }, 'A transcode job failed.'));
  worker.on('error', (err) => log.warn({ err: err.message }, 'The transcode worker reported an error.'));
  // A lost lock (e.g. Redis frozen longer than lockDuration) lets BullMQ hand the job out again;
  // ffmpeg keeps running all the same: the stream's lease decides who runs it, and the other
  // copy stands by (see transcode/lease-keeper.ts)
  worker.on('lockRenewalFailed', (jobIds) => log.warn({ jobIds }, 'Lost the BullMQ lock of running jobs; their ffmpeg keeps running under the stream lease.'));
  const cancels = createCancelListener({
    connection,
    prefix: config.redisPrefix,
    onCancel: (jobId) => {
      worker.cancelJob(jobId, 'cancelled');
      handler.cancel(jobId, 'cancelled');
    },
  });
  onShutdown(async () => {
    // hand live jobs back (they resume elsewhere) before close(), which waits for active jobs
    worker.cancelAllJobs('shutdown');
    handler.cancelAll('shutdown');
    await worker.close();
    await cancels.close();
  });
  // recordings: the finalise jobs (their own queue, one at a time: a remux is disk-bound), and
  // the recordings whose writer died
  const finaliser = new Worker(RECORDINGS_QUEUE, createFinaliseHandler({ db, recordingsDir: config.recordings.dir, childEnv: config.childEnv, log }), {
    connection,
    prefix: config.redisPrefix,
    concurrency: 1,
  });
  finaliser.on('failed', (job, err) => log.warn({ jobId: job?.id, err: err.message }, 'A finalise job failed.'));
  finaliser.on('error', (err) => log.warn({ err: err.message }, 'The finalise worker reported an error.'));
  onShutdown(() => finaliser.close());
  const recordingSweep = startRecordingSweep({ db, finalise: finaliseQueue, log, reconnectGraceSeconds: config.reconnectGraceSeconds });
  onShutdown(() => recordingSweep.stop());
  if (config.metricsPort > 0) {
    const counts = createQueueCounts({ connection: redis, prefix: config.redisPrefix });
    metrics.metrics.setQueueCounts(counts.read);
    onShutdown(() => counts.close());
  }
  // streams left `live` with nobody publishing them (a power cut, an ingest and its worker dead together)
  const brokenLives = startBrokenLivesSweep({ core, mediaDir: config.mediaDir, log });
  onShutdown(() => brokenLives.stop());
  await startMetricsServer({ config, log, onShutdown, registry: metrics.registry });

  /** What every stream's relay output uses: its destinations, their changes, the checks before a connect, the status rows. */
  async function createRelayDeps(): Promise<RelayOutputDeps> {
    let extraCaPem: string | null = null;
    if (config.relay.caFile) {
      extraCaPem = await readFile(config.relay.caFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new Error(`RELAY_CA_FILE ${config.relay.caFile} can not be read (${err.code ?? err.message}).`);
      });
      if (!extraCaPem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`RELAY_CA_FILE ${config.relay.caFile} holds no PEM certificate.`);
    }
    const destinations = createDestinationsService({ db, bus, log, relay: config.relay });
    // one subscription for the worker; each running relay listens for its own stream
    const listeners = new Map<string, Set<() => void>>();
    await bus.subscribe('stream.destinations-changed', ({ streamId }) => {
      for (const fn of listeners.get(streamId) ?? []) fn();
    });
    return {
      destinations: (streamId) => destinations.destinationsForRelay(streamId),
      onChange(streamId, fn) {
        const set = listeners.get(streamId) ?? new Set();
        listeners.set(streamId, set.add(fn));
        return () => void (set.delete(fn), set.size === 0 && listeners.delete(streamId));
      },
      async checkHost(host) {
        try {
          return await checkDestinationHost({ host }, { allowPrivate: config.relay.allowPrivate });
        } catch (err) {
          if (err instanceof AppError && err.code === 'destination_private') throw new PermanentRelayError(err.message);
          throw err;
        }
      },
      newPublisher: (o) => new RtmpPublisher(o),
      report: (s, announce) => recordRelayStatus({ db, bus, log }, s, announce),
      extraCaPem,
      // all destinations together; each one's own figures are in its row (the API's /metrics)
      counted: (outcome) => metrics.metrics.relayConnects.inc({ outcome }),
      progress: ({ bytes, keyframeDrops }) => {
        metrics.metrics.relaySentBytes.inc(bytes);
        metrics.metrics.relayKeyframeDrops.inc(keyframeDrops);
      },
    };
  }
  log.info({ concurrency: config.workerConcurrency, mediaDir: config.mediaDir }, 'Transcode worker ready.');
});
