// Recording fixtures for tests: a real recording made with ffmpeg in the writer's layout
// (RECORDINGS_DIR/<id>/master.m3u8, <rendition>/index.m3u8 as a VOD with its MPEG-TS segments,
// recording.mp4 with faststart, poster.jpg), encoded once per test file and copied for each row.
import { cp, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { run, testDir } from './harness.js';

export const FIXTURE_RENDITIONS = [
  { name: '360p', width: 640, height: 360, bandwidth: 900_000, codecs: 'avc1.42c01e,mp4a.40.2', frameRate: 30 },
  { name: '180p', width: 320, height: 180, bandwidth: 300_000, codecs: 'avc1.42c00d,mp4a.40.2', frameRate: 30 },
];
export const FIXTURE_SECONDS = 6;

let made: Promise<string> | null = null;

async function ffmpeg(args: string[]): Promise<void> {
  const r = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
  if (r.code !== 0) throw new Error(`ffmpeg failed: ${r.stderr.slice(-500)}`);
}

/** One recording's files, made once: two rungs of 2-second segments, the MP4 and the poster. */
export function recordingTemplate(): Promise<string> {
  made ??= (async () => {
    const dir = path.join(testDir('recording-template'), 'rec');
    for (const r of FIXTURE_RENDITIONS) await mkdir(path.join(dir, r.name), { recursive: true });
    const [hi, lo] = FIXTURE_RENDITIONS as [(typeof FIXTURE_RENDITIONS)[0], (typeof FIXTURE_RENDITIONS)[0]];
    await ffmpeg([
      '-f', 'lavfi', '-i', `testsrc2=size=${hi.width}x${hi.height}:rate=30`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', String(FIXTURE_SECONDS),
      '-filter_complex', `[0:v]split=2[a][b];[b]scale=${lo.width}:${lo.height}[c]`,
      '-map', '[a]', '-map', '1:a', '-map', '[c]', '-map', '1:a',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0', '-c:a', 'aac', '-b:a', '64k',
      '-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod', '-hls_segment_type', 'mpegts',
      '-var_stream_map', `v:0,a:0,name:${hi.name} v:1,a:1,name:${lo.name}`, '-master_pl_name', 'master.m3u8',
      '-hls_segment_filename', path.join(dir, '%v', 'seg%03d.ts'), path.join(dir, '%v', 'index.m3u8'),
    ]);
    await ffmpeg(['-i', path.join(dir, hi.name, 'index.m3u8'), '-c', 'copy', '-movflags', '+faststart', path.join(dir, 'recording.mp4')]);
    await ffmpeg(['-ss', '1', '-i', path.join(dir, 'recording.mp4'), '-frames:v', '1', path.join(dir, 'poster.jpg')]);
    return dir;
  })();
  return made;
}

async function du(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? await du(p) : (await stat(p)).size;
  }
  return n;
}

/**
 * A recording row (inserted with SQL, as the writer would leave it) and, unless `files: false`,
 * its files under the recordings dir. Times default to an hour ago for six seconds.
 */
export async function insertRecording(
  db: pg.Pool,
  o: { recordingsDir: string; streamId?: string | null; sessionId?: string | null; status?: 'recording' | 'finalising' | 'ready' | 'failed'; startedAt?: Date; endedAt?: Date | null; files?: boolean },
): Promise<{ id: string; dir: string; sizeBytes: number }> {
  const startedAt = o.startedAt ?? new Date(Date.now() - 3_600_000);
  const endedAt = o.endedAt === undefined ? new Date(startedAt.getTime() + FIXTURE_SECONDS * 1000) : o.endedAt;
  const template = await recordingTemplate();
  const sizeBytes = o.files === false ? 0 : await du(template);
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO recordings (stream_id, session_id, status, started_at, ended_at, duration_seconds, size_bytes, renditions)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
    [o.streamId ?? null, o.sessionId ?? null, o.status ?? 'ready', startedAt, endedAt, endedAt ? FIXTURE_SECONDS : null, sizeBytes, JSON.stringify(FIXTURE_RENDITIONS)],
  );
  const id = rows[0]!.id;
  const dir = path.join(o.recordingsDir, id);
  if (o.files !== false) await cp(template, dir, { recursive: true });
  return { id, dir, sizeBytes };
}
