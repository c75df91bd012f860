// The writing half of a recording, for one broadcast on one worker: which recording row the
// segments go to, when it is split (the session changed, the ladder changed), when it stops (the
// disk guard, the publish ended), and the finalise job that follows. The files are the mirror's
// (mirror.ts). Nothing here may harm the live stream: every failure ends the recording alone.
import type { Db } from '../db/pool.js';
import type { Log } from '../log.js';
import { openSessions } from '../analytics/playback-gate.js';
import type { FinaliseQueue } from './jobs.js';
import { freeBytes as statfsFreeBytes, recordingDir } from './files.js';
import { openMirror, type RecordingMirror } from './mirror.js';
import type { RecordedRendition } from './playlist.js';
import { closeRecording, findOpenRecording, insertRecording, leftOpenRecording, openRecordingOfPublish, touchRecording } from './repo.js';

export interface RecorderDeps {
  db: Db;
  finalise: FinaliseQueue;
  recordingsDir: string;
  /** Below this many free bytes on the recordings filesystem, recording stops (RECORDING_MIN_FREE_MB). */
  minFreeBytes: number;
  /** Which session a moment belongs to (config.playbackWindow). */
  playbackWindow: { leadSeconds: number; graceSeconds: number };
  /** A reconnect within this long continues the recording (RECONNECT_GRACE_SECONDS). */
  reconnectGraceSeconds: number;
  log: Log;
  /** A line of the publish log the broadcaster reads (never throws). */
  note(level: 'info' | 'warn' | 'error', message: string): Promise<void>;
  /** Free bytes on the filesystem holding `dir` (statfs unless told). */
  freeBytes?: (dir: string) => Promise<number>;
}

export interface RecordedBroadcast {
  streamId: string;
  publishSessionId: string;
  /** The live ladder's directory (<media>/hls/<playbackId>). */
  liveDir: string;
}

export type RecorderState = 'idle' | 'recording' | 'stopped' | 'failed';

export interface Recorder {
  /** Before each ffmpeg run: opens (or continues) the recording for these renditions, tallest first. */
  start(renditions: RecordedRendition[]): Promise<void>;
  /** Every ~1.5 s: keeps new segments, follows the session, watches the disk. */
  tick(): Promise<void>;
  /** The run ended but the broadcast goes on (a restart, a handover, a reconnect): keeps what is there, stays open. */
  pause(): Promise<void>;
  /** The broadcast ended: keeps the last segments, closes the recording and queues its finalise. */
  end(): Promise<void>;
  status(): { state: RecorderState; recordingId: string | null; reason: string | null };
}

const MB = 1024 * 1024;

export function createRecorder(deps: RecorderDeps, b: RecordedBroadcast): Recorder {
  // a recordings directory that is not there (an unmounted volume) has no room either
  const freeBytes = deps.freeBytes ?? (async (dir: string) => (await statfsFreeBytes(dir)) ?? 0);
  const log = deps.log.child({ streamId: b.streamId, publishSessionId: b.publishSessionId });
  let state: RecorderState = 'idle';
  let reason: string | null = null;
  let current: { id: string; sessionId: string | null; mirror: RecordingMirror; names: string } | null = null;
  let renditions: RecordedRendition[] = [];
  let pending = false; // a start waits for the database
  let pendingLogged = false;
  let busy: Promise<void> = Promise.resolve(); // one step at a time: a tick never overlaps an end

  const serial = (step: () => Promise<void>): Promise<void> => {
    const next = busy.then(step).catch((err) => fail(err));
    busy = next;
    return next;
  };

  async function sessionNow(): Promise<string | null | undefined> {
    try {
      // the database's clock, as for the playback gate: every worker judges a moment alike
      const open = await openSessions(deps.db, { ...deps.playbackWindow, streamId: b.streamId });
      return open[0]?.id ?? null;
    } catch {
      return undefined; // the database does not answer: the recording stays where it is
    }
  }

  async function lowDisk(): Promise<string | null> {
    const free = await freeBytes(deps.recordingsDir);
    if (free >= deps.minFreeBytes) return null;
    return `the recordings disk has ${Math.floor(free / MB)} MB free, below the floor of ${Math.floor(deps.minFreeBytes / MB)} MB (RECORDING_MIN_FREE_MB)`;
  }

  async function open(sessionId: string | null, skip?: Map<string, Set<string>>): Promise<void> {
    const names = renditions.map((r) => r.name).join(',');
    const found = skip ? null : await findOpenRecording(deps.db, { streamId: b.streamId, publishSessionId: b.publishSessionId, sessionId, withinSeconds: deps.reconnectGraceSeconds + 30 });
    const continued = found && found.renditions.map((r) => r.name).join(',') === names ? found : null;
    if (found && !continued) await close(found.id, 'The ladder changed (a new source resolution); a new recording continues.');
    if (!continued && !skip) skip = await finishLeftOver();
    const row = continued ?? (await insertRecording(deps.db, { streamId: b.streamId, sessionId, publishSessionId: b.publishSessionId, renditions }));
    const mirror = await openMirror({ liveDir: b.liveDir, dir: recordingDir(deps.recordingsDir, row.id), renditions: renditions.map((r) => r.name), skip });
    current = { id: row.id, sessionId, mirror, names };
    state = 'recording';
    log.info({ recordingId: row.id, sessionId, continued: Boolean(continued) }, continued ? 'Continuing the recording.' : 'Recording the broadcast.');
    if (!continued) await deps.note('info', 'Recording started.');
  }

  /**
   * A recording this publish (or the one a reconnect replaced) left open for another session (its
   * worker died, or the publisher was away, and the broadcast moved on meanwhile): it gets what the live lists now (complete before the change was seen,
   * as with a split in one run) and is closed; the new recording skips those segments.
   */
  async function finishLeftOver(): Promise<Map<string, Set<string>> | undefined> {
    const left = await leftOpenRecording(deps.db, { streamId: b.streamId, publishSessionId: b.publishSessionId, withinSeconds: deps.reconnectGraceSeconds + 30 });
    if (!left) return undefined;
    const mirror = await openMirror({ liveDir: b.liveDir, dir: recordingDir(deps.recordingsDir, left.id), renditions: left.renditions.map((r) => r.name) });
    await mirror.sync();
    await close(left.id, null);
    log.info({ recordingId: left.id }, 'Closed the recording a dead worker left for another session.');
    return mirror.names();
  }

  /** recording → finalising, and the finalise job (the sweep hands it out again if Redis drops it). */
  async function close(id: string, why: string | null): Promise<void> {
    if (await closeRecording(deps.db, { id, reason: why })) {
      await deps.finalise.enqueue(id).catch((err) => log.warn({ recordingId: id, err: (err as Error).message }, 'Could not queue the finalise now; the sweep will.'));
    }
  }

  /**
   * Starts (or continues) the recording, unless the disk is low. A database that does not answer
   * now leaves it pending: the next tick tries again (the live playlists still list the segments
   * so far, so little is lost), instead of giving the recording up for the whole publish.
   */
  async function begin(): Promise<void> {
    const low = await lowDisk();
    if (low) return stop(low, 'warn');
    const session = await sessionNow();
    if (session === undefined) return;
    try {
      await open(session);
      pending = false;
    } catch (err) {
      if (!pendingLogged) log.warn({ err: (err as Error).message }, 'Could not start the recording now (the database?); trying again.');
      pendingLogged = true;
    }
  }

  async function keep(): Promise<void> {
    if (!current) return;
    const added = await current.mirror.sync();
    if (added > 0 && !(await touchRecording(deps.db, { id: current.id, durationSeconds: current.mirror.durationSeconds(), sizeBytes: current.mirror.sizeBytes() }).catch(() => true))) {
      // someone closed it (the sweep took this writer for dead): what follows goes to a new one
      log.warn({ recordingId: current.id }, 'The recording was closed elsewhere; a new one continues.');
      const skip = current.mirror.names();
      current = null;
      await open(await sessionNow() ?? null, skip);
    }
  }

  async function stop(why: string, level: 'warn' | 'error'): Promise<void> {
    state = level === 'error' ? 'failed' : 'stopped';
    reason = why;
    const was = current;
    current = null;
    if (was) await close(was.id, `Recording stopped: ${why}.`);
    log.warn({ recordingId: was?.id }, `Recording stopped: ${why}.`);
    await deps.note(level, `Recording stopped: ${why}. The live stream goes on.`);
  }

  async function fail(err: unknown): Promise<void> {
    if (state === 'failed') return;
    await stop(`it failed (${(err as Error).message.slice(0, 200)})`, 'error').catch(() => undefined);
  }

  return {
    start: (list) =>
      serial(async () => {
        if (state === 'stopped' || state === 'failed') return; // for the rest of this publish
        renditions = list;
        const names = list.map((r) => r.name).join(',');
        if (current && current.names === names) return current.mirror.discontinuity();
        if (current) {
          const was = current;
          current = null;
          await close(was.id, 'The ladder changed (a new source resolution); a new recording continues.');
        }
        pending = true;
        await begin();
      }),
    tick: () =>
      serial(async () => {
        if (!current && pending && state === 'idle') await begin(); // the database was away as it started
        if (!current) return;
        const low = await lowDisk();
        if (low) {
          await keep(); // what is already complete is kept
          return stop(low, 'warn');
        }
        const session = await sessionNow();
        if (session !== undefined && session !== current.sessionId) {
          await keep(); // segments complete so far belong to the session that was open
          const was = current;
          current = null;
          await close(was.id, null);
          log.info({ recordingId: was.id, from: was.sessionId, to: session }, 'The broadcast moved to another session; the recording is split.');
          await deps.note('info', 'The broadcast moved to another session: its recording was split, a new one goes on.');
          await open(session, was.mirror.names());
        }
        await keep();
      }),
    pause: () => serial(keep),
    end: () =>
      serial(async () => {
        if (!current && state === 'idle') {
          // never started here (a handed-over job whose publisher left before it ran): a
          // recording its dead worker left open gets the last listed segments and its end now
          const left = await openRecordingOfPublish(deps.db, b.publishSessionId);
          if (left) {
            const mirror = await openMirror({ liveDir: b.liveDir, dir: recordingDir(deps.recordingsDir, left.id), renditions: left.renditions.map((r) => r.name) });
            current = { id: left.id, sessionId: left.sessionId, mirror, names: left.renditions.map((r) => r.name).join(',') };
          }
        }
        await keep();
        const was = current;
        current = null;
        if (was) await close(was.id, null);
        if (state === 'recording') state = 'idle';
      }),
    status: () => ({ state, recordingId: current?.id ?? null, reason }),
  };
}
