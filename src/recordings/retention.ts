// Retention: a scheduled BullMQ job (one per RECORDING_RETENTION_EVERY, whichever API node takes
// it, like the analytics roll-up) deletes recordings older than RECORDING_RETENTION_DAYS (0 = kept
// for ever) — files and rows — and recording directories that have no row (a deletion whose file
// removal failed, a writer that died before its row was written). A recording still being written
// or finalised is never touched; an orphan directory changed in the last ORPHAN_GRACE_MS neither
// (a writer may create the directory a moment before its row).
import { Queue, Worker } from 'bullmq';
import type { Db } from '../db/pool.js';
import type { Log } from '../log.js';
import type { Redis } from '../redis/connection.js';
import { recordingDirs, removeRecordingFiles } from './files.js';
import { deleteRecordingRow, existingIds, expiredRecordings } from './queries.js';

export const RECORDINGS_QUEUE = 'recordings-retention';
const ORPHAN_GRACE_MS = 10 * 60_000;
/** Recordings per query; a run goes on until none is left. */
const BATCH = 100;

export interface RetentionResult {
  expired: number;
  orphans: number;
}

export function createRetention(o: { db: Db; dir: string; retentionDays: number; log: Log; afterChange?: () => Promise<void> }) {
  return {
    async run(nowMs = Date.now()): Promise<RetentionResult> {
      const result: RetentionResult = { expired: 0, orphans: 0 };
      if (o.retentionDays > 0) {
        const before = new Date(nowMs - o.retentionDays * 86_400_000);
        for (;;) {
          const batch = await expiredRecordings(o.db, { before, limit: BATCH });
          let removed = 0;
          for (const { id } of batch) {
            // the row first (it is what the API lists); files without a row are the orphan pass's
            if (!(await deleteRecordingRow(o.db, id))?.deleted) continue;
            await removeRecordingFiles(o.dir, id);
            removed++;
          }
          result.expired += removed;
          if (batch.length < BATCH || removed === 0) break;
        }
      }
      const dirs = await recordingDirs(o.dir, nowMs - ORPHAN_GRACE_MS);
      for (let i = 0; i < dirs.length; i += 1000) {
        const chunk = dirs.slice(i, i + 1000);
        const known = await existingIds(o.db, chunk);
        for (const id of chunk.filter((d) => !known.has(d))) {
          await removeRecordingFiles(o.dir, id);
          result.orphans++;
        }
      }
      if (result.expired + result.orphans > 0) {
        o.log.info({ ...result, retentionDays: o.retentionDays }, `Recordings retention: deleted ${result.expired} recording(s) older than ${o.retentionDays} day(s) and ${result.orphans} directory(ies) without a recording.`);
        await o.afterChange?.();
      }
      return result;
    },
  };
}

export type Retention = ReturnType<typeof createRetention>;

/** Runs the retention every `everySeconds` through a BullMQ job scheduler. `connection` must be blocking (maxRetriesPerRequest null). */
export async function scheduleRetention(o: { connection: Redis; prefix: string; everySeconds: number; retention: Retention; log: Log }): Promise<{ close(): Promise<void> }> {
  const queue = new Queue(RECORDINGS_QUEUE, { connection: o.connection, prefix: o.prefix });
  queue.on('error', () => undefined); // the connection logs an outage once (redis/connection.ts)
  await queue.upsertJobScheduler('retention', { every: o.everySeconds * 1000 }, { name: 'retention', opts: { removeOnComplete: { count: 20 }, removeOnFail: { count: 20 } } });
  const worker = new Worker(RECORDINGS_QUEUE, async () => o.retention.run(), { connection: o.connection, prefix: o.prefix, concurrency: 1 });
  worker.on('failed', (_job, err) => o.log.warn({ err: err.message }, 'A recordings retention run failed; the next run tries again.'));
  worker.on('error', (err) => o.log.warn({ err: err.message }, 'The recordings retention worker reported an error.'));
  return {
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}
