// The output side of a transcode: today ffmpeg's own HLS muxer writes into
// <media>/hls/<playbackId>/<rendition>/; this file owns that directory (prepare, wait for the
// first segments, master playlist, final ENDLIST). A second packaging mode (LL-HLS) replaces
// this seam without touching ingest, jobs or the API.
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

const DIR_MODE = 0o755; // nginx workers run unprivileged: they must traverse and read

export function streamOutputDir(mediaDir: string, playbackId: string): string {
  return path.join(mediaDir, 'hls', playbackId);
}

/** Atomic replace: nginx sees the old file or the new one, never a half-written one. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, file);
}

export async function prepareOutputDir(outDir: string, renditionNames: string[], resume: boolean): Promise<void> {
  if (!resume) await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true, mode: DIR_MODE });
  for (const name of renditionNames) await mkdir(path.join(outDir, name), { recursive: true, mode: DIR_MODE });
  if (resume) {
    // a continued publish whose source changed (a reconnect at another resolution) may lose rungs:
    // their playlists go, so that a player on one gets a 404 and switches to a rung still written
    // (hls.js does) instead of waiting on a playlist that never moves again
    for (const entry of await readdir(outDir, { withFileTypes: true })) {
      if (entry.isDirectory() && !renditionNames.includes(entry.name)) await rm(path.join(outDir, entry.name), { recursive: true, force: true });
    }
  }
}

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return null;
  }
}

export async function hasSegments(outDir: string, renditionName: string): Promise<boolean> {
  const text = await readText(path.join(outDir, renditionName, 'index.m3u8'));
  return text !== null && text.includes('#EXTINF');
}

/** Segments a playlist accounts for since numbering began: media sequence + segments listed. Pure. */
export function segmentsInPlaylist(text: string): number {
  const seq = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text);
  return (seq ? Number(seq[1]) : 0) + (text.match(/^#EXTINF/gm)?.length ?? 0);
}

/** How many segments a rendition's playlist accounts for; null when there is no playlist yet. */
export async function listedSegments(outDir: string, renditionName: string): Promise<number | null> {
  const text = await readText(path.join(outDir, renditionName, 'index.m3u8'));
  return text === null ? null : segmentsInPlaylist(text);
}

/**
 * Resolves true when every rendition's playlist lists a complete segment — beyond the count in
 * `before` (segments a continued playlist already had: the new run's own first one is awaited);
 * false on abort.
 */
export async function waitForFirstSegments(outDir: string, names: string[], signal: AbortSignal, pollMs = 100, before?: ReadonlyMap<string, number>): Promise<boolean> {
  const pending = new Set(names);
  while (!signal.aborted) {
    for (const name of [...pending]) if ((await listedSegments(outDir, name) ?? 0) > (before?.get(name) ?? 0)) pending.delete(name);
    if (pending.size === 0) return true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return false;
}

export async function writeMasterPlaylist(outDir: string, text: string): Promise<void> {
  await writeFileAtomic(path.join(outDir, 'master.m3u8'), text);
}

/** Appends EXT-X-ENDLIST to every rendition playlist that lacks it (ffmpeg killed hard). */
export async function finishPlaylists(outDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(outDir);
  } catch {
    return;
  }
  for (const name of entries) {
    const file = path.join(outDir, name, 'index.m3u8');
    const text = await readText(file);
    if (text === null || text.includes('#EXT-X-ENDLIST')) continue;
    await writeFileAtomic(file, text.endsWith('\n') ? `${text}#EXT-X-ENDLIST\n` : `${text}\n#EXT-X-ENDLIST\n`);
  }
  // stale temp files of a killed ffmpeg are never served (nginx refuses *.tmp) but take space
  for (const name of entries) {
    const dir = path.join(outDir, name);
    const files = await readdir(dir).catch(() => [] as string[]);
    await Promise.all(files.filter((f) => f.endsWith('.tmp')).map((f) => rm(path.join(dir, f), { force: true })));
  }
}

/**
 * Deletes segments that fell out of a rendition's window more than `keepBehind` segments ago.
 * ffmpeg's delete_segments only knows the segments its own process wrote: after a takeover or a
 * restart the older ones would stay on disk for ever.
 */
export async function pruneSegments(outDir: string, keepBehind: number): Promise<number> {
  let removed = 0;
  const renditions = await readdir(outDir).catch(() => [] as string[]);
  for (const name of renditions) {
    const dir = path.join(outDir, name);
    const text = await readText(path.join(dir, 'index.m3u8'));
    const seq = text === null ? null : /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text);
    if (!seq) continue;
    const oldest = Number(seq[1]) - keepBehind;
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      const m = /^seg-[a-z0-9]+-(\d+)\.ts$/.exec(f);
      if (m && Number(m[1]) < oldest) {
        await rm(path.join(dir, f), { force: true });
        removed += 1;
      }
    }
  }
  return removed;
}
