// A "live" ladder for tests of the recording writer and the finalise: segments ffmpeg encoded
// once (two rungs of 2 s MPEG-TS, 16 s, cut at the same instants), listed in live playlists one
// segment at a time the way the transcode's HLS muxer lists them (a window of 6, older files
// pruned); streams, publishes and sessions inserted with SQL; recorder deps with fakes for the
// finalise queue and the publish log (what they were given is kept for the test to read).
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { createLog } from '../log.js';
import { parseSegments, type Segment } from '../recordings/playlist.js';
import type { RecorderDeps } from '../recordings/recorder.js';
import { run, testDatabase, testDir, type Teardown } from './harness.js';

export const RENDITIONS = [
  { name: '360p', width: 640, height: 360, bandwidth: 900_000, codecs: 'avc1.64001e,mp4a.40.2', frameRate: 10 },
  { name: '180p', width: 320, height: 180, bandwidth: 300_000, codecs: 'avc1.64000d,mp4a.40.2', frameRate: 10 },
];

export const playlistNames = (file: string) => parseSegments(readFileSync(file, 'utf8')).map((s) => s.name);

export async function liveLadderFixture(t: Teardown) {
  const log = createLog({ level: 'silent', name: 'test' });
  const { pool: db } = await testDatabase(t);
  const work = testDir('recorder');
  // 16 s of a test pattern with sound, as two rungs of 2 s MPEG-TS segments cut at the same instants
  const gen = path.join(work, 'gen');
  for (const r of RENDITIONS) mkdirSync(path.join(gen, r.name), { recursive: true });
  const outputs = RENDITIONS.flatMap((r) => [
    '-map', '0:v', '-map', '1:a', '-t', '16', '-vf', `scale=${r.width}:${r.height}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '20', '-keyint_min', '20', '-sc_threshold', '0', '-c:a', 'aac',
    '-f', 'hls', '-hls_time', '2', '-hls_list_size', '0', '-hls_segment_filename', path.join(gen, r.name, 'seg-test-%06d.ts'), path.join(gen, r.name, 'index.m3u8'),
  ]);
  const made = await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', ...outputs]);
  if (made.code !== 0) throw new Error(`could not make the test segments: ${made.stderr}`);
  const SEGMENTS: Record<string, Segment[]> = Object.fromEntries(RENDITIONS.map((r) => [r.name, parseSegments(readFileSync(path.join(gen, r.name, 'index.m3u8'), 'utf8'))]));
  const COUNT = SEGMENTS['360p']!.length;

  /** A live ladder directory where segment 0..n-1 are complete, listed in a window of 6 as the live muxer does; older files pruned. */
  function liveLadder(name: string) {
    const dir = path.join(work, name, 'live');
    for (const r of RENDITIONS) mkdirSync(path.join(dir, r.name), { recursive: true });
    return {
      dir,
      show(n: number, o: { discontinuityAt?: number } = {}) {
        for (const r of RENDITIONS) {
          const segs = SEGMENTS[r.name]!.slice(0, n);
          const window = segs.slice(-6);
          const first = segs.length - window.length;
          for (const s of window) if (!existsSync(path.join(dir, r.name, s.name))) copyFileSync(path.join(gen, r.name, s.name), path.join(dir, r.name, s.name));
          for (const s of segs.slice(0, Math.max(0, first - 3))) rmSync(path.join(dir, r.name, s.name), { force: true });
          const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:2', `#EXT-X-MEDIA-SEQUENCE:${first}`];
          window.forEach((s, i) => {
            if (o.discontinuityAt === first + i) lines.push('#EXT-X-DISCONTINUITY');
            lines.push(`#EXTINF:${s.seconds.toFixed(6)},`, s.name);
          });
          writeFileSync(path.join(dir, r.name, 'index.m3u8'), lines.join('\n') + '\n');
        }
      },
    };
  }

  async function streamWithPublish(title: string) {
    const { rows: [s] } = await db.query(`INSERT INTO streams (title, key_digest, playback_id) VALUES ($1, $2, $3) RETURNING id`, [title, createHash('sha256').update(title).digest(), title.replace(/[^a-z0-9]/g, '').padEnd(20, 'x').slice(0, 20)]);
    const { rows: [p] } = await db.query(`INSERT INTO publish_sessions (stream_id, ingest_id) VALUES ($1, 'ingest-test') RETURNING id`, [s.id]);
    return { streamId: s.id as string, publishSessionId: p.id as string };
  }

  async function sessionOn(streamId: string, o: { from: string; to: string }): Promise<string> {
    const { rows: [e] } = await db.query(`INSERT INTO events (title, starts_at, ends_at, status) VALUES ('Event', now() - interval '1 day', now() + interval '1 day', 'published') RETURNING id`);
    const { rows: [s] } = await db.query(`INSERT INTO event_sessions (event_id, title, starts_at, ends_at, stream_id) VALUES ($1, 'Session', now() + $2::interval, now() + $3::interval, $4) RETURNING id`, [e.id, o.from, o.to, streamId]);
    return s.id;
  }

  function setup(name: string, o: { free?: () => number } = {}) {
    const notes: string[] = [];
    const queued: string[] = [];
    const recordingsDir = path.join(work, name, 'recordings');
    mkdirSync(recordingsDir, { recursive: true });
    const deps: RecorderDeps = {
      db,
      finalise: { enqueue: async (id) => void queued.push(id), close: async () => undefined },
      recordingsDir,
      minFreeBytes: 100 * 1024 * 1024,
      playbackWindow: { leadSeconds: 0, graceSeconds: 0 },
      reconnectGraceSeconds: 20,
      log,
      note: async (_level, message) => void notes.push(message),
      freeBytes: o.free ? async () => o.free!() : undefined,
    };
    return { deps, notes, queued, recordingsDir, live: liveLadder(name) };
  }

  return { db: db as pg.Pool, log, work, SEGMENTS, COUNT, liveLadder, streamWithPublish, sessionOn, setup };
}
