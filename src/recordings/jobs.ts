// The job registry of recordings: its own queue (a long remux never waits behind, or holds up,
// live work), the finalise job's name, payload and options side by side. The worker role
// consumes it (bin/worker.ts); the recording output and the sweep produce it.
import { Queue, type ConnectionOptions } from 'bullmq';

export const RECORDINGS_QUEUE = 'recordings';
export const FINALISE_RECORDING = 'finalise-recording';

export interface FinaliseRecordingJob {
  recordingId: string;
}

/** One finalise per recording at a time: BullMQ ignores an add whose job id it already holds. */
export function finaliseJobId(recordingId: string): string {
  return `finalise-${recordingId}`;
}

export const FINALISE_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential' as const, delay: 2_000 },
  // kept a while (its id keeps a second add out); the sweep hands out a lost one again
  removeOnComplete: { age: 3_600, count: 1_000 },
  removeOnFail: { age: 7 * 86_400, count: 1_000 },
};

export interface FinaliseQueue {
  enqueue(recordingId: string): Promise<void>;
  close(): Promise<void>;
}

export function createFinaliseQueue(opts: { connection: ConnectionOptions; prefix: string }): FinaliseQueue {
  const queue = new Queue<FinaliseRecordingJob>(RECORDINGS_QUEUE, { connection: opts.connection, prefix: opts.prefix });
  queue.on('error', () => undefined); // the connection logs its own outages; a failed add answers for itself
  return {
    async enqueue(recordingId) {
      await queue.add(FINALISE_RECORDING, { recordingId }, { ...FINALISE_JOB_OPTIONS, jobId: finaliseJobId(recordingId) });
    },
    close: () => queue.close(),
  };
}
