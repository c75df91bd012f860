// The job registry: queue name, job names, payload types and options side by side.
// Producers (ingest) use TranscodeQueue; the worker role consumes with createTranscodeWorker.
import { Queue, QueueEvents, QueueEventsProducer, type ConnectionOptions } from 'bullmq';
import type { LiveTranscodeJob } from '../streams/types.js';

export const TRANSCODE_QUEUE = 'transcode';
export const LIVE_TRANSCODE = 'live-transcode';
export const CANCEL_EVENT = 'cancel-live';

export function liveJobId(publishSessionId: string): string {
  return `live-${publishSessionId}`;
}

/**
 * Live work must move fast when a worker dies: its lock expires after lockDuration and the
 * stalled check (every stalledInterval) hands the job to another worker. A live stream may
 * stall many times over its life, so maxStalledCount is high.
 */
export const LIVE_WORKER_OPTIONS = {
  lockDuration: 4_000,
  stalledInterval: 2_000,
  maxStalledCount: 1_000,
} as const;

export const LIVE_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'fixed' as const, delay: 1_000 },
  removeOnComplete: { age: 86_400, count: 1_000 },
  removeOnFail: { age: 7 * 86_400, count: 1_000 },
};

export interface TranscodeJobs {
  enqueueLive(data: LiveTranscodeJob): Promise<void>;
  cancelLive(publishSessionId: string): Promise<void>;
  close(): Promise<void>;
}

export function createTranscodeJobs(opts: { connection: ConnectionOptions; prefix: string }): TranscodeJobs {
  const queue = new Queue<LiveTranscodeJob>(TRANSCODE_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  const events = new QueueEventsProducer(TRANSCODE_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  quiet(queue, events);
  return {
    async enqueueLive(data) {
      await queue.add(LIVE_TRANSCODE, data, { ...LIVE_JOB_OPTIONS, jobId: liveJobId(data.publishSessionId) });
    },
    async cancelLive(publishSessionId) {
      // worker.cancelJob only reaches the worker's own process: broadcast the cancel, every
      // worker's QueueEvents listener turns it into a local cancelJob
      await events.publishEvent({ eventName: CANCEL_EVENT, jobId: liveJobId(publishSessionId) });
    },
    async close() {
      await Promise.allSettled([queue.close(), events.close()]);
    },
  };
}

/** Reads the queue's job counts (the worker's queue-depth metric). */
export function createQueueCounts(opts: { connection: ConnectionOptions; prefix: string }): { read(): Promise<Record<string, number>>; close(): Promise<void> } {
  const queue = new Queue<LiveTranscodeJob>(TRANSCODE_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  quiet(queue);
  return {
    read: () => queue.getJobCounts('waiting', 'active', 'delayed', 'failed'),
    close: () => queue.close(),
  };
}

export function createCancelListener(opts: {
  connection: ConnectionOptions;
  prefix: string;
  onCancel: (jobId: string) => void;
}): QueueEvents {
  const events = new QueueEvents(TRANSCODE_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  quiet(events);
  events.on(CANCEL_EVENT as 'error', ((args: { jobId?: unknown }) => {
    if (typeof args?.jobId === 'string') opts.onCancel(args.jobId);
  }) as never);
  return events;
}

/**
 * Without an 'error' listener BullMQ prints each connection error's stack to stderr (every
 * reconnect attempt while Redis is down). The connection itself (createRedis) already logs once
 * that Redis is unreachable and once that it is back; the calls that fail answer for themselves.
 */
function quiet(...emitters: { on(event: 'error', fn: (err: Error) => void): unknown }[]): void {
  for (const e of emitters) e.on('error', () => undefined);
}
