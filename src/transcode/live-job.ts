// The live-transcode handler: one ffmpeg per live stream, fenced by a lease, restarted a bounded
// number of times, ended by the publisher's state (never by ffmpeg's exit code). When the
// publisher's connection breaks, the job waits out its reconnect grace (no ENDLIST) and starts
// ffmpeg again on the connection that continues the publish (streams/transitions.ts decides).
import type { Job } from 'bullmq';
import { DelayedError, UnrecoverableError } from 'bullmq';
import type { Log } from '../log.js';
import type { WorkerMetrics } from '../metrics.js';
import type { Redis } from '../redis/connection.js';
import { pullSignature } from '../streams/keys.js';
import type { TranscodeCore } from '../streams/transcode-core.js';
import { afterRun, type PublishReading } from '../streams/transitions.js';
import type { LiveTranscodeJob, PublishFeed } from '../streams/types.js';
import { spawnFfmpeg, type FfmpegExit, type FfmpegProgress } from './ffmpeg.js';
import { streamOutputDir } from './hls-output.js';
import { buildFfmpegArgs, planLadder } from './ladder.js';
import { checkLiveJob } from './job-check.js';
import { createJobAborts } from './job-aborts.js';
import { claimLease, keepLease } from './lease-keeper.js';
import { composeOutputs, type ComposedOutputs, type RunAdditions, type TranscodeOutput } from './outputs.js';
import { loadProfile, ProfileError } from './profiles.js';
import { watchPublisher, type PublisherWatch } from './publisher-watch.js';
import { currentFeed, waitForPublisher } from './publisher-return.js';

export const LEASE_TTL_MS = 5_000;
const HEARTBEAT_MS = 1_500;
const LEASE_RENEW_TIMEOUT_MS = 1_000; // a renewal not answered by then counts as "Redis unreachable"
const STANDBY_RECHECK_MS = 1_000; // a standby copy of the job looks at the lease again this often
const MAX_RESTARTS = 3;
const HEALTHY_RUN_MS = 60_000;
const PROGRESS_EVERY_MS = 2_000;
/** How long a decision about the publisher waits out a database that does not answer. */
const DB_WAIT_MS = 120_000;

export interface LiveJobDeps {
  /** The stream core: every transition of the stream goes through it (never SQL here). */
  core: TranscodeCore;
  redis: Redis;
  log: Log;
  workerId: string;
  mediaDir: string;
  profilesDir: string;
  redisPrefix: string;
  internalApiKey: string;
  /** The ingests a job's pull URL may name ("host:port", config.ingestPullHosts). */
  pullHosts: readonly string[];
  /** ffmpeg's whole environment (config.childEnv): none of the worker's secrets. */
  childEnv: Readonly<Record<string, string>>;
  ffmpegBinary?: string;
  metrics?: WorkerMetrics;
  /**
   * The outputs a stream's transcode has (the worker's composition root decides): the primary
   * (the HLS ladder: the stream is live when it is ready) and the others, which fail alone.
   */
  outputsFor(job: LiveTranscodeJob): { primary: TranscodeOutput; others: TranscodeOutput[] };
}

export type LiveJobOutcome = 'publisher-gone' | 'ended' | 'lease-lost';

type StopReason = 'cancelled' | 'publisher-gone' | 'lease-lost' | 'shutdown' | 'reconnecting';

export function createLiveJobHandler(deps: LiveJobDeps) {
  const aborts = createJobAborts();
  async function handle(job: Job<LiveTranscodeJob>, token: string | undefined, bullSignal?: AbortSignal): Promise<LiveJobOutcome> {
    // Check what the job says before anything is touched: no query, directory or connection for
    // a job that names a path, an id or a host it should not
    const checked = checkLiveJob(job.data, { pullHosts: deps.pullHosts });
    if (!checked.ok) {
      deps.log.error({ jobId: String(job.id).slice(0, 100) }, `Refused a transcode job: ${checked.problem}.`);
      throw new UnrecoverableError(`Refused: ${checked.problem}.`);
    }
    const d = checked.job;
    const log = deps.log.child({ jobId: job.id, streamId: d.streamId, publishSessionId: d.publishSessionId });
    const { core } = deps;
    const sessionLog = (level: 'info' | 'warn' | 'error', message: string) => core.note(d.publishSessionId, level, message);

    // Re-check before acting: the publisher may be gone by the time a worker gets the job. A
    // session that merely looks stale (e.g. right after a database outage) is watched for a
    // touch first; a database that does not answer is waited out, not taken for "gone".
    const watch = watchPublisher({ read: () => core.publishState(d.publishSessionId) });
    const outputs = composeOutputs({ ...deps.outputsFor(d), log, note: (level, message) => sessionLog(level, message) });
    const atStart = await watch.settle({ freshIsEnough: true, maxWaitMs: DB_WAIT_MS });
    if (atStart === 'ended' || atStart === 'gone') {
      // a handed-over job whose publisher left meanwhile: its outputs still need their end
      // (the playlists their ENDLIST), unless a newer publish already writes into the same place
      if (await core.isCurrent(d)) await outputs.runEnded('ended');
      // a session whose ingest is gone is ended here, not left open (nobody else would end it)
      if (atStart === 'gone') await core.ingestLost(d);
      log.info('The publisher is gone before transcoding started; nothing to do.');
      return 'publisher-gone';
    }

    let profile;
    try {
      profile = await loadProfile(deps.profilesDir, d.profile);
    } catch (err) {
      const message = err instanceof ProfileError ? err.message : 'The transcode profile could not be read.';
      await core.failed(d, message);
      await sessionLog('error', message);
      throw new UnrecoverableError(message);
    }

    const metrics = deps.metrics;
    const labels = { profile: d.profile }; // a profile that loaded: a file name, bounded
    // queue wait of the job's first start only (a handover's wait is its delay, not the queue)
    if ((job.attemptsStarted ?? 0) <= 1) metrics?.queueWaitSeconds.observe(labels, Math.max(0, (job.processedOn ?? Date.now()) - job.timestamp) / 1000);

    const outDir = streamOutputDir(deps.mediaDir, d.playbackId);
    const lease = await claimLease(deps.redis, {
      key: `${deps.redisPrefix}:lease:stream:${d.streamId}`,
      ttlMs: LEASE_TTL_MS,
      owner: deps.workerId,
      outDir,
      quietMs: (2 * profile.segmentSeconds + 1) * 1000, // a running ffmpeg writes its playlists every segment
      log,
    });
    if (!lease) {
      // another ffmpeg runs this stream (this copy was handed out again after a lost BullMQ lock,
      // e.g. after a Redis outage) or its holder is dying: stand by without holding a worker
      // slot, and take over once the holder is gone (its lease free, its playlists quiet)
      log.debug('Another ffmpeg runs this stream; standing by.');
      await job.moveToDelayed(Date.now() + STANDBY_RECHECK_MS, token);
      throw new DelayedError();
    }

    /** The publish as it is now; null when the database does not answer. */
    const readPublish = (): Promise<PublishReading | null> => core.publishState(d.publishSessionId).catch(() => null);
    // the job's payload describes the publish's first connection; a continued publish (the
    // publisher back, maybe on another ingest or at another resolution) is pulled from its own feed
    const feedFor = (connection: number) => currentFeed({ core, job: d, connection, pullHosts: deps.pullHosts, log });
    let feed: PublishFeed = await feedFor(1);
    let restarts = 0;
    let firstRun = true;
    metrics?.activeJobs.inc(labels);
    // from here on the finally below stops renewing and releases the lease
    const keeper = keepLease({ lease, everyMs: HEARTBEAT_MS, timeoutMs: LEASE_RENEW_TIMEOUT_MS, log });
    const tracked = aborts.track(String(job.id), bullSignal);
    const signal = tracked.signal;

    try {
      for (;;) {
        // during a database outage the count is unknown: continue whatever is there
        const previousStarts = await core.transcodeStarting(d.publishSessionId, deps.workerId).catch(() => 1);
        // planned for this connection's source: a reconnect at another resolution gets its own ladder
        const plan = planLadder(profile, feed.source, { lowLatency: d.lowLatency === true });
        const inputUrl = `${feed.pullUrl}?sig=${pullSignature(deps.internalApiKey, d.publishSessionId)}`;
        const run = { job: { ...d, pullUrl: feed.pullUrl, source: feed.source }, profile, plan, continuing: previousStarts > 0, log };
        const adds = await outputs.prepare(run);
        if (firstRun && previousStarts > 0) metrics?.takeovers.inc(labels);
        const fresh = firstRun && previousStarts === 0;
        firstRun = false;
        if (run.continuing) {
          log.warn({ previousStarts }, 'Resuming the stream’s playlists after a discontinuity.');
          await sessionLog('warn', `Transcoding resumed on worker ${deps.workerId}; players see a short discontinuity.`);
        } else {
          log.info({ renditions: plan.renditions.map((r) => r.name) }, 'Starting ffmpeg for the stream.');
        }

        const ffRun = runOnce({
          deps,
          job,
          leaseLost: keeper.lost,
          watch,
          log,
          args: buildFfmpegArgs({ profile, plan, inputUrl, slaves: adds.slaves, taps: adds.taps, outputs: adds.outputs }),
          adds,
          outputs,
          signal,
          profile: d.profile,
        });
        // The stream is live once the primary output (the ladder) is ready: every rendition has a
        // complete segment, and the master playlist is there.
        void outputs.ready(ffRun.liveWatch).then(async (ready) => {
          if (!ready) return;
          if (fresh) metrics?.firstSegmentSeconds.observe(labels, Math.max(0, Date.now() - job.timestamp) / 1000);
          const renditions = plan.renditions.map(({ rung: _rung, ...r }) => r);
          // a database that does not answer right now must not leave the stream 'starting' for good
          let marked: boolean | null = null;
          while (marked === null && !ffRun.liveWatch.aborted) {
            marked = await core.live(d, renditions).catch(() => null);
            if (marked === null) await new Promise((r) => setTimeout(r, 2_000));
          }
          if (marked) log.info('The stream is live.');
        }).catch((err) => log.error({ err }, 'Could not publish the master playlist.'));

        const startedAt = Date.now();
        const result = await ffRun.done;
        const handBack = async (): Promise<never | 'lease-lost'> => {
          await outputs.runEnded('handover');
          log.error('Lost the stream lease; handing the job back so that whoever holds the lease, or a worker after it expires, goes on.');
          // if another worker already took the job over, our token is stale and this fails
          const handedBack = await job.moveToDelayed(Date.now() + LEASE_TTL_MS, token).then(() => true, () => false);
          if (handedBack) throw new DelayedError();
          return 'lease-lost';
        };
        const handOver = async (): Promise<never> => {
          // hand the job back without spending an attempt: another worker resumes it, at once
          // since the lease is released first
          await outputs.runEnded('handover');
          await keeper.stop();
          await job.moveToDelayed(Date.now() + 100, token);
          throw new DelayedError();
        };
        const finish = async (why: string): Promise<'ended'> => {
          await outputs.runEnded('ended');
          // a publish whose ingest stopped answering (crashed) is ended here: nobody else will
          await core.ingestLost(d);
          log.info({ stop: why }, 'The publisher left; the playlists are finished.');
          return 'ended';
        };
        // ffmpeg stopped: is the publisher still there, away, or continued by a new connection?
        const stopped = result.stop === 'cancelled' || result.stop === 'publisher-gone' || result.stop === 'lease-lost';
        const verdict = stopped ? null : await watch.check();
        const publish = stopped ? null : verdict === 'gone' ? ('gone' as const) : verdict === 'ended' ? { ended: true, connection: feed.connection, reconnectLeftMs: null } : await readPublish();
        const next = afterRun({ stop: result.stop, publish, connection: feed.connection });
        if (next === 'hand-back') return handBack();
        if (next === 'hand-over') return handOver();
        if (next === 'finish') return finish(result.stop ?? 'input-ended');
        if (next === 'wait-for-publisher') {
          // no ENDLIST: players keep the playlists and go on after the discontinuity
          await outputs.runEnded('reconnecting');
          log.info('The publisher’s connection broke; waiting for it to come back within the grace.');
          const back = await waitForPublisher({ readPublish, signal, leaseLost: keeper.lost });
          if (back.how === 'resume') {
            feed = await feedFor(back.connection);
            restarts = 0;
            log.info({ connection: feed.connection }, 'The publisher is back; continuing the playlists.');
            continue;
          }
          if (back.how === 'lease-lost') return handBack();
          if (back.how === 'shutdown') return handOver();
          // the grace ran out: the publish ends here (an operator's end needs nothing more)
          if (back.how === 'expire') await core.reconnectExpired(d);
          return finish(back.how === 'expire' ? 'reconnect-grace-over' : 'publish-ended');
        }
        if (next === 'resume') {
          // a new connection took the publish over (a silent one replaced): pull that one
          feed = await feedFor((publish as PublishReading).connection);
          restarts = 0;
          continue;
        }
        // ffmpeg exited on its own while the publisher is still there: restart, bounded. A run
        // that lasted a while was healthy: the budget is for crash loops, not a long event's
        // occasional hiccup.
        if (Date.now() - startedAt > HEALTHY_RUN_MS) restarts = 0;
        restarts += 1;
        const why = describeExit(result.exit);
        if (restarts > MAX_RESTARTS && (await ingestGone(watch))) {
          // not ffmpeg's fault: the ingest holding the publisher is gone (crashed, unreachable)
          await outputs.runEnded('ended');
          await core.ingestLost(d);
          log.warn('The ingest holding the publisher stopped answering; the publish is ended.');
          return 'ended';
        }
        if (restarts > MAX_RESTARTS) {
          const message = `Transcoding failed ${restarts} times; giving up. Last error: ${why}`;
          log.error({ stderr: result.exit.stderrTail }, message);
          await outputs.runEnded('failed');
          await core.failed(d, message);
          await sessionLog('error', message);
          throw new UnrecoverableError(message);
        }
        await outputs.runEnded('restart');
        metrics?.restarts.inc(labels);
        log.warn({ restarts, stderr: result.exit.stderrTail }, `ffmpeg stopped unexpectedly (${why}); restarting.`);
        await sessionLog('warn', `Transcoder stopped unexpectedly (${why}); restart ${restarts} of ${MAX_RESTARTS}.`);
        await new Promise((r) => setTimeout(r, 500 * restarts));
      }
    } finally {
      metrics?.activeJobs.dec(labels);
      tracked.done();
      await keeper.stop();
    }
  }
  // BullMQ's cancelJob misses a copy it no longer tracks (see job-aborts.ts): the worker calls these too
  return Object.assign(handle, { cancel: aborts.cancel, cancelAll: aborts.cancelAll });
}

/**
 * After a crash loop: is the ingest still there? A live ingest touches its publishers every 5 s;
 * a dead one never again, and the watch calls it gone after several missed touches. Touched
 * again: the ingest is alive, ffmpeg is the problem.
 */
async function ingestGone(watch: PublisherWatch): Promise<boolean> {
  const verdict = await watch.settle({ freshIsEnough: false, maxWaitMs: DB_WAIT_MS });
  return verdict === 'ended' || verdict === 'gone';
}

function describeExit(exit: FfmpegExit): string {
  const last = exit.stderrTail[exit.stderrTail.length - 1] ?? 'no output';
  return exit.signal ? `killed by ${exit.signal}: ${last}` : `exit code ${exit.code}: ${last}`;
}

/**
 * Runs ffmpeg until it exits or something stops it: a cancel (publisher left), the publisher's
 * session ending (checked on every heartbeat, in case a cancel message was lost), the lease
 * being lost, or a worker shutdown.
 */
function runOnce(o: {
  deps: LiveJobDeps;
  job: Job<LiveTranscodeJob>;
  /** Aborted when another worker holds the stream's lease (lease-keeper.ts). */
  leaseLost: AbortSignal;
  /** Judges the publisher on every heartbeat, in case a cancel message was lost. */
  watch: PublisherWatch;
  log: Log;
  args: string[];
  /** What the outputs added to the run (its pipes are handed to them once ffmpeg starts). */
  adds: RunAdditions;
  outputs: ComposedOutputs;
  signal?: AbortSignal;
  profile: string;
}): { done: Promise<{ stop: StopReason | null; exit: FfmpegExit }>; liveWatch: AbortSignal } {
  const { deps, job } = o;
  const liveWatch = new AbortController();
  let lastProgressAt = 0;
  let progressPending = false;
  let recording = false;
  const running = {}; // this run's entry in the ffmpeg speed/fps gauges
  const onProgress = (p: FfmpegProgress) => {
    deps.metrics?.ffmpegReport(running, o.profile, p);
    const now = Date.now();
    if (now - lastProgressAt < PROGRESS_EVERY_MS) return;
    lastProgressAt = now;
    const progress = { ...p, updatedAt: new Date(now).toISOString() };
    // one update in flight at most: BullMQ's connection has no command timeout, and a frozen
    // Redis must not collect one pending update per interval
    if (!progressPending) {
      progressPending = true;
      void job.updateProgress(progress).catch(() => undefined).finally(() => (progressPending = false));
    }
    // one write at a time: against a database that does not answer, writes would pile up on the pool
    if (recording) return;
    recording = true;
    void deps.core.progress(job.data.publishSessionId, progress).catch(() => undefined).finally(() => (recording = false));
  };
  const ff = spawnFfmpeg({ args: o.args, env: deps.childEnv, onProgress, binary: deps.ffmpegBinary, pipes: o.adds.pipeCount });
  o.outputs.attachPipes(ff.pipes);

  const done = new Promise<{ stop: StopReason | null; exit: FfmpegExit }>((resolve) => {
    let stop: StopReason | null = null;
    const halt = (reason: StopReason, hard: boolean) => {
      if (stop) return;
      stop = reason;
      if (hard) ff.kill();
      else void ff.stop();
    };
    const onAbort = () => {
      const reason = o.signal?.reason;
      // a shutdown hands the stream over: kill ffmpeg hard so that it writes no EXT-X-ENDLIST
      // (players would take the stream for ended); the next worker continues the playlist
      if (reason === 'shutdown') halt('shutdown', true);
      else halt('cancelled', false);
    };
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    // another worker holds the lease: its ffmpeg may already write here, step aside at once
    const onLeaseLost = () => halt('lease-lost', true);
    if (o.leaseLost.aborted) onLeaseLost();
    o.leaseLost.addEventListener('abort', onLeaseLost, { once: true });

    let ticking = false;
    const heartbeat = setInterval(() => {
      // not awaited: a database that does not answer must not hold up the beat
      void o.watch.check().then((v) => {
        if (v === 'ended' || v === 'gone') halt('publisher-gone', false);
        // the publisher's connection broke (its input ends by itself too): stop now, the job waits for it
        if (v === 'away') halt('reconnecting', true);
      });
      // one tick at a time: a slow disk must not pile ticks up
      if (ticking) return;
      ticking = true;
      // a failing primary (the ladder's own files) is ffmpeg's problem, seen at its exit
      void o.outputs.tick().catch((err) => o.log.warn({ err }, 'The HLS output could not keep up.')).finally(() => (ticking = false));
    }, HEARTBEAT_MS);

    void ff.exited.then(async (exit) => {
      clearInterval(heartbeat);
      deps.metrics?.ffmpegForget(running);
      liveWatch.abort();
      o.signal?.removeEventListener('abort', onAbort);
      o.leaseLost.removeEventListener('abort', onLeaseLost);
      resolve({ stop, exit });
    });
  });
  return { done, liveWatch: liveWatch.signal };
}
