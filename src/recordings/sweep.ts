// Recordings whose writer is gone: a worker killed with no other to continue the broadcast, a
// power cut, the whole box restarted. Such a row stays `recording` with nobody touching it; every
// worker sweeps (the UPDATE decides who closes which, once) and queues its finalise, so what was
// kept becomes a replay anyway. A finalise whose job Redis lost is handed out again the same way.
import type { Db } from '../db/pool.js';
import type { Log } from '../log.js';
import type { FinaliseQueue } from './jobs.js';
import { closeAbandonedRecordings } from './repo.js';
import { every } from '../every.js';

export const RECORDING_SWEEP_EVERY_MS = 10_000;
/** A running writer touches its row with every segment (every 2 s or so); this long without one, it is gone. */
export const WRITER_GONE_SECONDS = 60;
/** A finalise not done after this long is queued again (its job id keeps a running one from doubling). */
export const FINALISE_LOST_SECONDS = 600;

export interface RecordingSweep {
  sweep(): Promise<string[]>;
  stop(): Promise<void>;
}

export function startRecordingSweep(o: {
  db: Db;
  finalise: FinaliseQueue;
  log: Log;
  /** A reconnect may keep a recording untouched this long (RECONNECT_GRACE_SECONDS): never swept before it is over. */
  reconnectGraceSeconds: number;
  everyMs?: number;
  quietSeconds?: number;
}): RecordingSweep {
  async function sweep(): Promise<string[]> {
    const quietSeconds = Math.max(o.quietSeconds ?? WRITER_GONE_SECONDS, o.reconnectGraceSeconds + 30);
    const ids = await closeAbandonedRecordings(o.db, { quietSeconds, lostSeconds: FINALISE_LOST_SECONDS });
    for (const id of ids) {
      o.log.warn({ recordingId: id }, 'A recording nobody writes any more (its worker is gone) is finalised.');
      await o.finalise.enqueue(id).catch((err) => o.log.warn({ recordingId: id, err: (err as Error).message }, 'Could not queue a finalise now; the next sweep tries again.'));
    }
    return ids;
  }
  // one pass at a time; a database that does not answer: the next pass tries again
  const task = every(o.everyMs ?? RECORDING_SWEEP_EVERY_MS, sweep);
  return { sweep, stop: () => task.stop() };
}
