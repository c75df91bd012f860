// A recording's files while it is written: no re-encoding, the ladder's own MPEG-TS segments are
// kept. Each segment a live playlist lists is complete (ffmpeg writes it under a temp name and
// renames it before listing it); it is hard-linked into RECORDINGS_DIR/<id>/<rendition>/ (copied
// when that directory is on another filesystem), and then the recording's EVENT playlist is
// rewritten atomically. The playlist on disk is the recording's whole state: a worker killed at
// any moment leaves a playlist that lists only segments that are there, and whoever continues
// reads it back. The live window's pruning cannot take a kept segment: a hard link keeps the data.
import { randomBytes } from 'node:crypto';
import { copyFile, link, mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { parseSegments, recordingPlaylist, totalSeconds, type Segment } from './playlist.js';

const DIR_MODE = 0o755; // nginx workers serve replays unprivileged

/**
 * Replaces a file whole: a reader (nginx, a finalise) sees the old text or the new, never half of
 * one; its data is on disk before the rename, so a power cut leaves one or the other too.
 */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(text);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/**
 * Puts a kept segment's data on disk now: ffmpeg never syncs, and the kernel may hold written data
 * for ~30 s; a power cut must not leave a listed segment empty. (The link itself is metadata: the
 * filesystem's journal commits it within seconds.)
 */
export async function syncData(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

async function readText(file: string): Promise<string | null> {
  return readFile(file, 'utf8').catch(() => null);
}

/** A hard link; a copy (under a temp name, then renamed) when the recording is on another filesystem. */
async function keep(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      // kept by a run that died before it listed the segment: keep it again, from the live file
      await unlink(to);
      return keep(from, to);
    }
    if (code !== 'EXDEV') throw err;
    const tmp = `${to}.${process.pid}.tmp`;
    await copyFile(from, tmp);
    await rename(tmp, to);
  }
}

export interface RecordingMirror {
  readonly dir: string;
  /** Keeps every complete segment the live playlists list that the recording lacks; answers how many the top rung gained. */
  sync(): Promise<number>;
  /** What comes next follows a gap (a new ffmpeg run, a reconnect): the next segment gets a discontinuity. */
  discontinuity(): void;
  /** Seconds the top rung holds. */
  durationSeconds(): number;
  /** Bytes of the kept segments (playlists aside). */
  sizeBytes(): number;
  /** The segment names each rendition holds (a recording split after this one must not take them again). */
  names(): Map<string, Set<string>>;
}

interface Track {
  name: string;
  segments: Segment[];
  have: Set<string>;
  skip: Set<string>;
  gap: boolean;
}

/**
 * Opens (or continues) the recording in `dir`: renditions tallest first, the first one is the top
 * rung. `skip` holds segment names that belong to a recording before this one (a split).
 */
export async function openMirror(o: { liveDir: string; dir: string; renditions: string[]; skip?: Map<string, Set<string>> }): Promise<RecordingMirror> {
  let bytes = 0;
  const tracks: Track[] = [];
  await mkdir(o.dir, { recursive: true, mode: DIR_MODE });
  for (const name of o.renditions) {
    const dir = path.join(o.dir, name);
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
    const text = await readText(path.join(dir, 'index.m3u8'));
    const segments = text === null ? [] : parseSegments(text);
    for (const s of segments) bytes += (await stat(path.join(dir, s.name)).catch(() => null))?.size ?? 0;
    // continuing a recording: the first segment of this run follows a gap
    tracks.push({ name, segments, have: new Set(segments.map((s) => s.name)), skip: o.skip?.get(name) ?? new Set(), gap: segments.length > 0 });
  }

  async function syncTrack(t: Track): Promise<number> {
    const live = await readText(path.join(o.liveDir, t.name, 'index.m3u8'));
    if (live === null) return 0;
    const added: Segment[] = [];
    for (const s of parseSegments(live)) {
      if (t.have.has(s.name) || t.skip.has(s.name)) continue;
      const to = path.join(o.dir, t.name, s.name);
      try {
        await keep(path.join(o.liveDir, t.name, s.name), to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // pruned before it could be kept: lost
        throw err;
      }
      await syncData(to);
      bytes += (await stat(to)).size;
      added.push({ ...s, discontinuity: s.discontinuity || t.gap });
      t.gap = false;
      t.have.add(s.name);
    }
    if (added.length === 0) return 0;
    t.segments.push(...added);
    await writeFileAtomic(path.join(o.dir, t.name, 'index.m3u8'), recordingPlaylist(t.segments, { type: 'EVENT' }));
    return added.length;
  }

  return {
    dir: o.dir,
    async sync() {
      let top = 0;
      for (const [i, t] of tracks.entries()) {
        const n = await syncTrack(t);
        if (i === 0) top = n;
      }
      return top;
    },
    discontinuity() {
      for (const t of tracks) if (t.segments.length > 0) t.gap = true;
    },
    durationSeconds: () => totalSeconds(tracks[0]?.segments ?? []),
    sizeBytes: () => bytes,
    names: () => new Map(tracks.map((t) => [t.name, new Set([...t.have, ...t.skip])])),
  };
}

/** Removes a recording's files (a recording that never kept a segment). */
export async function removeRecordingDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
