// The recordings directory on disk: RECORDINGS_DIR/<recordingId>/ holds one recording (the
// writer's layout: master.m3u8, <rendition>/index.m3u8 and segments, recording.mp4, poster.jpg).
// Only directories named by a recording id are ever removed here: whatever else an operator keeps
// on the volume (lost+found, notes) is not ours.
import { readdir, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';

const RECORDING_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function recordingDir(dir: string, id: string): string {
  if (!RECORDING_ID.test(id)) throw new Error('A recording directory is named by a recording id.');
  return path.join(dir, id);
}

/** Removes one recording's files (nothing to remove is fine). */
export async function removeRecordingFiles(dir: string, id: string): Promise<void> {
  await rm(recordingDir(dir, id), { recursive: true, force: true });
}

/** Recording directories last changed before `olderThanMs` (ms since the epoch): the orphan sweep's candidates. */
export async function recordingDirs(dir: string, olderThanMs: number): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []; // nothing recorded yet
    throw err;
  }
  const out: string[] = [];
  for (const name of names) {
    if (!RECORDING_ID.test(name)) continue;
    const s = await stat(path.join(dir, name)).catch(() => null);
    if (s?.isDirectory() && s.mtimeMs < olderThanMs) out.push(name);
  }
  return out;
}

/** Free bytes on the recordings volume (null when the directory is not there yet). */
export async function freeBytes(dir: string): Promise<number | null> {
  const s = await statfs(dir).catch(() => null);
  return s ? s.bavail * s.bsize : null;
}
