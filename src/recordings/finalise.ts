// The finalise job: turns a closed recording (its EVENT playlists and kept segments) into what a
// replay and a download need — a VOD playlist (EXT-X-PLAYLIST-TYPE:VOD + ENDLIST) for every rung
// it kept and a master, the top rung remuxed to MP4 (-c copy, faststart), a poster JPEG — then
// measures it and marks it `ready`. Idempotent: every file is derived from the playlists and
// segments (which it never changes but to list only segments that are there), written under a
// temp name and renamed, so a finalise that died is retried and gives the same result.
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Job } from 'bullmq';
import type { Db } from '../db/pool.js';
import type { Log } from '../log.js';
import { spawnFfmpeg } from '../transcode/ffmpeg.js';
import { FINALISE_JOB_OPTIONS, type FinaliseRecordingJob } from './jobs.js';
import { recordingDir } from './files.js';
import { syncData, writeFileAtomic } from './mirror.js';
import { parseSegments, recordingMaster, recordingPlaylist, totalSeconds, type RecordedRendition, type Segment } from './playlist.js';
import { findRecording, markReady, markRecordingFailed } from './repo.js';

export const MP4_NAME = 'recording.mp4';
export const POSTER_NAME = 'poster.jpg';
const POSTER_WIDTH = 640;

export interface FinaliseDeps {
  db: Db;
  recordingsDir: string;
  /** ffmpeg's whole environment (config.childEnv). */
  childEnv: Readonly<Record<string, string>>;
  log: Log;
  ffmpegBinary?: string;
}

export type FinaliseOutcome = 'ready' | 'failed' | 'skipped';

/** A recording problem that retrying cannot fix (the recording is marked failed at once). */
export class RecordingUnusable extends Error {}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}

/** The segments of a rendition's playlist that are on disk (a kept segment is never removed, but a disk may lose files). */
async function keptSegments(dir: string): Promise<Segment[]> {
  const text = await readFile(path.join(dir, 'index.m3u8'), 'utf8').catch(() => null);
  if (text === null) return [];
  const out: Segment[] = [];
  for (const s of parseSegments(text)) if (await exists(path.join(dir, s.name))) out.push(s);
  return out;
}

async function runFfmpeg(deps: Pick<FinaliseDeps, 'childEnv' | 'ffmpegBinary'>, args: string[], what: string): Promise<void> {
  const ff = spawnFfmpeg({ args: ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args], env: deps.childEnv, binary: deps.ffmpegBinary });
  const exit = await ff.exited;
  if (exit.code !== 0) throw new Error(`${what} failed (${exit.signal ?? `exit ${exit.code}`}): ${exit.stderrTail.slice(-1)[0] ?? 'no output'}`);
}

/** The top rung's segments remuxed into one MP4, moov first (plays and seeks before it is all downloaded). */
async function writeMp4(deps: Pick<FinaliseDeps, 'childEnv' | 'ffmpegBinary'>, o: { dir: string; rendition: string; segments: Segment[] }): Promise<void> {
  const out = path.join(o.dir, MP4_NAME);
  if (await exists(out)) return; // renamed into place only once complete
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const list = path.join(o.dir, `concat-${tag}.txt.tmp`);
  const tmp = path.join(o.dir, `${MP4_NAME}.${tag}.tmp`);
  // the concat demuxer lays the segments end to end by their durations: a discontinuity (a new
  // ffmpeg run restarting its timestamps) becomes a seamless join, and the MP4's duration is the
  // playlist's
  const lines = ['ffconcat version 1.0', ...o.segments.flatMap((s) => [`file '${path.join(o.dir, o.rendition, s.name)}'`, `duration ${s.seconds.toFixed(6)}`])];
  await writeFile(list, lines.join('\n') + '\n', { mode: 0o600 });
  try {
    await runFfmpeg(deps, [
      '-f', 'concat', '-safe', '0', '-i', list,
      '-map', '0:v:0', '-map', '0:a:0?',
      '-c', 'copy',
      // MPEG-TS carries AAC as ADTS; MP4 wants the raw AAC with its config in the header
      '-bsf:a', 'aac_adtstoasc',
      '-movflags', '+faststart',
      '-f', 'mp4', tmp,
    ], 'The MP4 remux');
    await syncData(tmp); // on disk before it counts as there (the row says `ready` next)
    await rename(tmp, out);
  } finally {
    await rm(list, { force: true });
    await rm(tmp, { force: true });
  }
}

/** One frame a tenth of the way in (past a fade-in, still near the start), scaled for lists. */
async function writePoster(deps: Pick<FinaliseDeps, 'childEnv' | 'ffmpegBinary'>, o: { dir: string; rendition: string; segments: Segment[] }): Promise<void> {
  const out = path.join(o.dir, POSTER_NAME);
  if (await exists(out)) return;
  const segment = o.segments[Math.floor(o.segments.length / 10)]!;
  const tmp = path.join(o.dir, `${POSTER_NAME}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    await runFfmpeg(deps, [
      '-i', path.join(o.dir, o.rendition, segment.name),
      '-map', '0:v:0', '-frames:v', '1',
      '-vf', `scale=${POSTER_WIDTH}:-2:flags=bilinear`,
      '-q:v', '4',
      '-f', 'mjpeg', tmp,
    ], 'The poster');
    await syncData(tmp);
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Bytes under the recording's directory (temp files of a finalise in flight aside). */
async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await dirBytes(file);
    else if (!entry.name.endsWith('.tmp')) total += (await stat(file).catch(() => null))?.size ?? 0;
  }
  return total;
}

/**
 * The files of a finalised recording in `dir`, from its playlists and segments: VOD playlists for
 * the rungs that kept something, the master, the MP4 and the poster. Answers what it measured.
 */
export async function finaliseFiles(deps: Pick<FinaliseDeps, 'childEnv' | 'ffmpegBinary'>, o: { dir: string; renditions: RecordedRendition[] }): Promise<{ durationSeconds: number; sizeBytes: number; renditions: string[] }> {
  const { dir } = o;
  const kept: { rendition: RecordedRendition; segments: Segment[] }[] = [];
  for (const r of o.renditions) {
    const segments = await keptSegments(path.join(dir, r.name));
    if (segments.length > 0) kept.push({ rendition: r, segments });
  }
  if (kept.length === 0) throw new RecordingUnusable('Nothing was recorded (not one complete segment).');
  for (const k of kept) await writeFileAtomic(path.join(dir, k.rendition.name, 'index.m3u8'), recordingPlaylist(k.segments, { type: 'VOD' }));
  await writeFileAtomic(path.join(dir, 'master.m3u8'), recordingMaster(kept.map((k) => k.rendition)));
  const top = kept[0]!;
  await writeMp4(deps, { dir, rendition: top.rendition.name, segments: top.segments });
  await writePoster(deps, { dir, rendition: top.rendition.name, segments: top.segments });
  return { durationSeconds: totalSeconds(top.segments), sizeBytes: await dirBytes(dir), renditions: kept.map((k) => k.rendition.name) };
}

/** Finalises one recording if it is `finalising`; anything else is left as it is ('skipped'). */
export async function finaliseRecording(deps: FinaliseDeps, recordingId: string): Promise<FinaliseOutcome> {
  const row = await findRecording(deps.db, recordingId);
  if (!row || row.status !== 'finalising') return 'skipped';
  const done = await finaliseFiles(deps, { dir: recordingDir(deps.recordingsDir, row.id), renditions: row.renditions });
  await markReady(deps.db, { id: row.id, durationSeconds: done.durationSeconds, sizeBytes: done.sizeBytes });
  deps.log.info({ recordingId: row.id, ...done }, 'A recording is ready.');
  return 'ready';
}

/**
 * The BullMQ processor: a failure is retried (FINALISE_JOB_OPTIONS.attempts); the last attempt,
 * or a recording that cannot be finalised at all, marks it `failed` with the reason.
 */
export function createFinaliseHandler(deps: FinaliseDeps) {
  return async (job: Job<FinaliseRecordingJob>): Promise<FinaliseOutcome> => {
    const id = job.data?.recordingId;
    if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) return 'skipped'; // not ours to judge: nothing touched
    try {
      return await finaliseRecording(deps, id);
    } catch (err) {
      const last = err instanceof RecordingUnusable || job.attemptsMade + 1 >= (job.opts.attempts ?? FINALISE_JOB_OPTIONS.attempts);
      const reason = err instanceof RecordingUnusable ? err.message : `Finalising failed: ${(err as Error).message}`;
      deps.log.warn({ recordingId: id, attempt: job.attemptsMade + 1, err: (err as Error).message }, last ? 'A recording could not be finalised; it is marked failed.' : 'Finalising a recording failed; it is retried.');
      if (last) {
        await markRecordingFailed(deps.db, { id, reason, sizeBytes: await dirBytes(recordingDir(deps.recordingsDir, id)) });
        return 'failed';
      }
      throw err;
    }
  };
}
