// The recording writer and the finalise against real Postgres, real files and real ffmpeg: a
// "live" ladder made of segments ffmpeg encoded, listed in live playlists one segment at a time
// the way the transcode's HLS muxer lists them.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createLog } from '../log.js';
import { run, testDatabase, testDir } from '../testing/harness.js';
import { createFinaliseHandler, finaliseRecording, MP4_NAME, POSTER_NAME } from './finalise.js';
import { parseSegments, type Segment } from './playlist.js';
import { createRecorder, type RecorderDeps } from './recorder.js';
import { findRecording } from './repo.js';
import { startRecordingSweep } from './sweep.js';
import { recordingOutput } from './recording-output.js';

const log = createLog({ level: 'silent', name: 'test' });
const { pool: db } = await testDatabase(t);
const work = testDir('recorder');
const RENDITIONS = [
  { name: '360p', width: 640, height: 360, bandwidth: 900_000, codecs: 'avc1.64001e,mp4a.40.2', frameRate: 10 },
  { name: '180p', width: 320, height: 180, bandwidth: 300_000, codecs: 'avc1.64000d,mp4a.40.2', frameRate: 10 },
];

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

const playlistNames = (file: string) => parseSegments(readFileSync(file, 'utf8')).map((s) => s.name);
const fileHash = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function probe(file: string): Promise<{ duration: number; streams: { codec_type: string; width?: number; height?: number }[] }> {
  const r = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type,width,height', '-of', 'json', file]);
  const j = JSON.parse(r.stdout);
  return { duration: Number(j.format.duration), streams: j.streams };
}

t.test('each completed segment is kept as it is listed; the finalise makes VOD playlists, an MP4 and a poster, and gives the same result when retried', async (t) => {
  const s = setup('whole');
  const b = await streamWithPublish('whole-stream');
  const rec = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await rec.start(RENDITIONS);
  const id = rec.status().recordingId!;
  t.ok(id, 'a recording row exists');
  const dir = path.join(s.recordingsDir, id);
  for (let n = 1; n <= COUNT; n++) {
    s.live.show(n);
    await rec.tick();
    t.same(playlistNames(path.join(dir, '360p', 'index.m3u8')), SEGMENTS['360p']!.slice(0, n).map((x) => x.name), `after segment ${n}, the recording lists every segment so far`);
  }
  t.match(readFileSync(path.join(dir, '360p', 'index.m3u8'), 'utf8'), /#EXT-X-PLAYLIST-TYPE:EVENT\n/);
  t.same((await findRecording(db, id))!.status, 'recording');
  await rec.end();
  t.same(s.queued, [id], 'the finalise is queued once the broadcast ends');
  t.equal((await findRecording(db, id))!.status, 'finalising');

  t.equal(await finaliseRecording({ db, recordingsDir: s.recordingsDir, childEnv: { PATH: process.env.PATH! }, log }, id), 'ready');
  const row = (await findRecording(db, id))!;
  const liveSeconds = SEGMENTS['360p']!.reduce((a, x) => a + x.seconds, 0);
  t.equal(row.status, 'ready');
  t.ok(Math.abs(row.durationSeconds! - liveSeconds) < 0.01, `duration ${row.durationSeconds} = the live's ${liveSeconds}`);
  for (const r of RENDITIONS) {
    const text = readFileSync(path.join(dir, r.name, 'index.m3u8'), 'utf8');
    t.match(text, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
    t.match(text, /#EXT-X-ENDLIST\n$/);
    const p = await probe(path.join(dir, r.name, 'index.m3u8'));
    t.same(p.streams.find((x) => x.codec_type === 'video'), { codec_type: 'video', width: r.width, height: r.height }, `the ${r.name} replay decodes at its size`);
  }
  t.match(readFileSync(path.join(dir, 'master.m3u8'), 'utf8'), /RESOLUTION=640x360[^\n]*\n360p\/index\.m3u8\n[^\n]*RESOLUTION=320x180[^\n]*\n180p\/index\.m3u8\n/);
  const mp4 = await probe(path.join(dir, MP4_NAME));
  t.ok(Math.abs(mp4.duration - liveSeconds) <= 2, `the MP4 lasts ${mp4.duration} s, the live ${liveSeconds} s (± one segment)`);
  t.same(mp4.streams.map((x) => x.codec_type).sort(), ['audio', 'video']);
  const head = readFileSync(path.join(dir, MP4_NAME)).subarray(0, 64).toString('latin1');
  t.ok(head.indexOf('moov') >= 0 && (head.indexOf('mdat') < 0 || head.indexOf('moov') < head.indexOf('mdat')), 'moov before mdat (faststart)');
  const seek = await run('ffmpeg', ['-v', 'error', '-ss', '9', '-i', path.join(dir, MP4_NAME), '-frames:v', '1', '-f', 'null', '-']);
  t.equal(seek.code, 0, 'seekable');
  t.equal(readFileSync(path.join(dir, POSTER_NAME)).subarray(0, 2).toString('hex'), 'ffd8', 'the poster is a JPEG');
  t.ok(row.sizeBytes > 0);

  // a finalise that died half way (after its files, before its row) is retried: same result
  const before = { files: readdirSync(dir).sort(), mp4: fileHash(path.join(dir, MP4_NAME)), vod: readFileSync(path.join(dir, '360p', 'index.m3u8'), 'utf8'), master: readFileSync(path.join(dir, 'master.m3u8'), 'utf8') };
  await db.query(`UPDATE recordings SET status = 'finalising' WHERE id = $1`, [id]);
  writeFileSync(path.join(dir, `${POSTER_NAME}.123-dead.tmp`), 'half a poster');
  rmSync(path.join(dir, POSTER_NAME));
  t.equal(await finaliseRecording({ db, recordingsDir: s.recordingsDir, childEnv: { PATH: process.env.PATH! }, log }, id), 'ready');
  const again = (await findRecording(db, id))!;
  t.same([again.status, again.durationSeconds, again.sizeBytes], ['ready', row.durationSeconds, row.sizeBytes], 'same status, duration and size');
  t.same(readdirSync(dir).filter((f) => !f.endsWith('.tmp')).sort(), before.files);
  t.equal(fileHash(path.join(dir, MP4_NAME)), before.mp4);
  t.equal(readFileSync(path.join(dir, '360p', 'index.m3u8'), 'utf8'), before.vod);
  t.equal(readFileSync(path.join(dir, 'master.m3u8'), 'utf8'), before.master);
  t.equal(await finaliseRecording({ db, recordingsDir: s.recordingsDir, childEnv: { PATH: process.env.PATH! }, log }, id), 'skipped', 'a ready recording is left as it is');
});

t.test('a worker that dies mid-recording: the next run of the same publish continues the same recording after a discontinuity', async (t) => {
  const s = setup('continue');
  const b = await streamWithPublish('continue-stream');
  const first = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await first.start(RENDITIONS);
  s.live.show(3);
  await first.tick();
  const id = first.status().recordingId!;
  // the first worker is gone without a word (SIGKILL); the next one finds the live playlist further on
  s.live.show(6, { discontinuityAt: 5 });
  const second = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await second.start(RENDITIONS);
  t.equal(second.status().recordingId, id, 'the same recording');
  await second.tick();
  await second.end();
  const text = readFileSync(path.join(s.recordingsDir, id, '360p', 'index.m3u8'), 'utf8');
  t.same(parseSegments(text).map((x) => x.name), SEGMENTS['360p']!.slice(0, 6).map((x) => x.name), 'nothing lost, nothing twice');
  t.same(parseSegments(text).map((x) => x.discontinuity), [false, false, false, true, false, true], 'a discontinuity where the run changed, and where the live had one');
  t.same(s.queued, [id]);
});

t.test('a recording is split where the broadcast moves to another session: no segment in both', async (t) => {
  const s = setup('split');
  const b = await streamWithPublish('split-stream');
  const sessionA = await sessionOn(b.streamId, { from: '-1 hour', to: '1 hour' });
  const rec = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await rec.start(RENDITIONS);
  for (let n = 1; n <= 3; n++) (s.live.show(n), await rec.tick());
  const first = rec.status().recordingId!;
  t.equal((await findRecording(db, first))!.sessionId, sessionA);
  // the next session on the stream begins now: session A's window closes, B's opens
  const sessionB = await sessionOn(b.streamId, { from: '0 seconds', to: '1 hour' });
  await db.query(`UPDATE event_sessions SET ends_at = now() WHERE id = $1`, [sessionA]);
  await rec.tick(); // the change is seen: segments completed from now on belong to session B
  for (let n = 4; n <= 6; n++) (s.live.show(n), await rec.tick());
  const second = rec.status().recordingId!;
  t.not(second, first, 'a new recording');
  const a = (await findRecording(db, first))!;
  const bRow = (await findRecording(db, second))!;
  t.same([a.sessionId, a.status], [sessionA, 'finalising'], 'the first belongs to session A and is closed');
  t.same([bRow.sessionId, bRow.status], [sessionB, 'recording'], 'the second belongs to session B');
  const inA = playlistNames(path.join(s.recordingsDir, first, '360p', 'index.m3u8'));
  const inB = playlistNames(path.join(s.recordingsDir, second, '360p', 'index.m3u8'));
  t.same(inA, SEGMENTS['360p']!.slice(0, 3).map((x) => x.name));
  t.same(inB, SEGMENTS['360p']!.slice(3, 6).map((x) => x.name));
  await rec.end();
  t.same(s.queued, [first, second]);
});

t.test('the disk guard: below the floor a running recording stops cleanly with a line in the publish log, and a new one does not start', async (t) => {
  let free = 10 * 1024 * 1024 * 1024;
  const s = setup('disk', { free: () => free });
  const b = await streamWithPublish('disk-stream');
  const rec = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await rec.start(RENDITIONS);
  for (let n = 1; n <= 2; n++) (s.live.show(n), await rec.tick());
  const id = rec.status().recordingId!;
  free = 50 * 1024 * 1024; // below the 100 MB floor
  s.live.show(3);
  await rec.tick();
  s.live.show(4);
  await rec.tick();
  t.equal(rec.status().state, 'stopped');
  const row = (await findRecording(db, id))!;
  t.equal(row.status, 'finalising', 'closed, to be finalised with what it holds');
  t.match(row.statusReason, /Recording stopped: the recordings disk has 50 MB free, below the floor of 100 MB/);
  t.same(playlistNames(path.join(s.recordingsDir, id, '360p', 'index.m3u8')), SEGMENTS['360p']!.slice(0, 3).map((x) => x.name), 'segments complete before the stop are kept, none after');
  t.match(s.notes.join('\n'), /Recording stopped: the recordings disk has 50 MB free[^\n]*The live stream goes on\./);
  t.same(s.queued, [id]);
  // a later run of the publish (a restart) does not start it again, nor does a new publish while the disk is low
  await rec.start(RENDITIONS);
  t.equal(rec.status().recordingId, null);
  const other = await streamWithPublish('disk-stream-2');
  const fresh = createRecorder(s.deps, { ...other, liveDir: s.live.dir });
  await fresh.start(RENDITIONS);
  t.equal(fresh.status().state, 'stopped');
  t.equal((await db.query(`SELECT count(*)::int AS n FROM recordings WHERE stream_id = $1`, [other.streamId])).rows[0].n, 0, 'no recording started');
});

t.test('a recording whose writer died with nobody to continue it is closed by the sweep and queued for its finalise; a live one is left alone', async (t) => {
  const s = setup('sweep');
  const b = await streamWithPublish('sweep-stream');
  const dead = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await dead.start(RENDITIONS);
  s.live.show(2);
  await dead.tick();
  const id = dead.status().recordingId!;
  const other = await streamWithPublish('sweep-stream-alive');
  const alive = createRecorder(s.deps, { ...other, liveDir: s.live.dir });
  await alive.start(RENDITIONS);
  await alive.tick();
  // the first writer was killed two minutes ago: nothing touched its row since
  await db.query(`UPDATE recordings SET updated_at = now() - interval '2 minutes' WHERE id = $1`, [id]);
  const sweep = startRecordingSweep({ db, finalise: s.deps.finalise, log, reconnectGraceSeconds: 20, everyMs: 3_600_000 });
  t.teardown(() => sweep.stop());
  t.same(await sweep.sweep(), [id], 'only the abandoned one');
  t.same(s.queued, [id]);
  t.equal((await findRecording(db, id))!.status, 'finalising');
  t.equal((await findRecording(db, alive.status().recordingId!))!.status, 'recording');
  t.same(await sweep.sweep(), [], 'once');
  t.equal(await finaliseRecording({ db, recordingsDir: s.recordingsDir, childEnv: { PATH: process.env.PATH! }, log }, id), 'ready', 'what it kept becomes a replay');
});

t.test('a finalise that fails is retried (the job throws) and the last attempt marks the recording failed with the reason; nothing kept fails at once', async (t) => {
  const s = setup('fails');
  const b = await streamWithPublish('fails-stream');
  const rec = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await rec.start(RENDITIONS);
  s.live.show(2);
  await rec.tick();
  const id = rec.status().recordingId!;
  await rec.end();
  // the top rung's segments are unreadable: the remux cannot work
  for (const x of SEGMENTS['360p']!.slice(0, 2)) writeFileSync(path.join(s.recordingsDir, id, '360p', x.name), 'not MPEG-TS');
  const handle = createFinaliseHandler({ db, recordingsDir: s.recordingsDir, childEnv: { PATH: process.env.PATH! }, log });
  const job = (attemptsMade: number) => ({ data: { recordingId: id }, attemptsMade, opts: { attempts: 5 } }) as never;
  await t.rejects(handle(job(0)), /The MP4 remux failed/, 'a first failure is thrown: BullMQ retries it');
  t.equal((await findRecording(db, id))!.status, 'finalising');
  t.equal(await handle(job(4)), 'failed', 'the last attempt');
  const row = (await findRecording(db, id))!;
  t.equal(row.status, 'failed');
  t.match(row.statusReason, /^Finalising failed: The MP4 remux failed/);

  const empty = await streamWithPublish('empty-stream');
  const none = createRecorder(s.deps, { ...empty, liveDir: path.join(work, 'nowhere') });
  await none.start(RENDITIONS);
  await none.tick();
  const emptyId = none.status().recordingId!;
  await none.end();
  t.equal(await createFinaliseHandler({ db, recordingsDir: s.recordingsDir, childEnv: { PATH: process.env.PATH! }, log })({ data: { recordingId: emptyId }, attemptsMade: 0, opts: { attempts: 5 } } as never), 'failed');
  t.match((await findRecording(db, emptyId))!.statusReason, /Nothing was recorded/);
});

t.test('as an output: a reconnect (or restart) keeps the recording open and the next run continues it, also as a new publish within the grace; the end closes it', async (t) => {
  const s = setup('output');
  const b = await streamWithPublish('output-stream');
  const { rows: [st] } = await db.query(`SELECT playback_id FROM streams WHERE id = $1`, [b.streamId]);
  const mediaDir = path.join(work, 'output', 'media');
  const liveDir = path.join(mediaDir, 'hls', st.playback_id);
  mkdirSync(path.dirname(liveDir), { recursive: true });
  const ladder = liveLadder('output');
  rmSync(liveDir, { recursive: true, force: true });
  symlinkSync(ladder.dir, liveDir);
  const job = (publishSessionId: string) => ({ streamId: b.streamId, publishSessionId, playbackId: st.playback_id, profile: 'default', pullUrl: '', source: {} as never, record: true });
  const run = { plan: { renditions: RENDITIONS.map((r) => ({ ...r, passthrough: false, rung: {} as never })) } } as never;
  const slots = {} as never;

  const first = recordingOutput({ job: job(b.publishSessionId), mediaDir, deps: s.deps });
  await first.prepare(run, slots);
  ladder.show(2);
  await first.tick!();
  t.same(first.status(), { state: 'running' });
  await first.runEnded!('reconnecting');
  const { rows: [open] } = await db.query(`SELECT id, status FROM recordings WHERE stream_id = $1`, [b.streamId]);
  t.equal(open.status, 'recording', 'kept open through the reconnect');
  t.same(s.queued, []);

  // the publisher comes back within the grace as a new publish of the same stream
  await db.query(`UPDATE publish_sessions SET ended_at = now(), end_reason = 'publisher_left' WHERE id = $1`, [b.publishSessionId]);
  const { rows: [again] } = await db.query(`INSERT INTO publish_sessions (stream_id, ingest_id) VALUES ($1, 'ingest-test') RETURNING id`, [b.streamId]);
  const second = recordingOutput({ job: job(again.id), mediaDir, deps: s.deps });
  await second.prepare(run, slots);
  ladder.show(4, { discontinuityAt: 2 });
  await second.tick!();
  await second.runEnded!('restart');
  await second.prepare(run, slots);
  ladder.show(5);
  await second.tick!();
  await second.runEnded!('ended');
  const { rows } = await db.query(`SELECT id, status FROM recordings WHERE stream_id = $1`, [b.streamId]);
  t.same(rows, [{ id: open.id, status: 'finalising' }], 'one recording, closed at the end');
  t.same(s.queued, [open.id]);
  const segs = parseSegments(readFileSync(path.join(s.recordingsDir, open.id, '360p', 'index.m3u8'), 'utf8'));
  t.same(segs.map((x) => x.name), SEGMENTS['360p']!.slice(0, 5).map((x) => x.name));
  t.same(segs.map((x) => x.discontinuity), [false, false, true, false, true], 'a discontinuity after the reconnect and after the restart');
});

t.test('a database that does not answer as the recording starts: it starts at a later tick, with the segments the live still lists', async (t) => {
  const s = setup('dbdown');
  const b = await streamWithPublish('dbdown-stream');
  let down = true;
  // the real pool behind a switch: every query fails while `down`
  const flaky = { query: (...args: unknown[]) => (down ? Promise.reject(new Error('connect ECONNREFUSED')) : (db.query as (...a: unknown[]) => unknown)(...args)) } as unknown as typeof db;
  const rec = createRecorder({ ...s.deps, db: flaky }, { ...b, liveDir: s.live.dir });
  await rec.start(RENDITIONS);
  s.live.show(2);
  await rec.tick();
  t.same(rec.status(), { state: 'idle', recordingId: null, reason: null }, 'not started, not given up');
  down = false;
  s.live.show(3);
  await rec.tick();
  const id = rec.status().recordingId!;
  t.ok(id, 'started once the database answers');
  t.same(playlistNames(path.join(s.recordingsDir, id, '360p', 'index.m3u8')), SEGMENTS['360p']!.slice(0, 3).map((x) => x.name), 'nothing lost that the live still listed');
  await rec.end();
  t.same(s.queued, [id]);
});

t.test('a worker that dies just before a session boundary: the next run gives the old session its segments, closes it, and records the new one apart', async (t) => {
  const s = setup('deadsplit');
  const b = await streamWithPublish('deadsplit-stream');
  const sessionA = await sessionOn(b.streamId, { from: '-1 hour', to: '1 hour' });
  const first = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await first.start(RENDITIONS);
  s.live.show(2);
  await first.tick();
  const a = first.status().recordingId!;
  // the worker dies; the next session begins; the live (resumed elsewhere) lists segments 3 and 4
  const sessionB = await sessionOn(b.streamId, { from: '0 seconds', to: '1 hour' });
  await db.query(`UPDATE event_sessions SET ends_at = now() WHERE id = $1`, [sessionA]);
  s.live.show(4);
  const second = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await second.start(RENDITIONS);
  s.live.show(6);
  await second.tick();
  const bId = second.status().recordingId!;
  t.not(bId, a);
  t.same([(await findRecording(db, a))!.status, (await findRecording(db, a))!.sessionId], ['finalising', sessionA]);
  t.equal((await findRecording(db, bId))!.sessionId, sessionB);
  t.same(playlistNames(path.join(s.recordingsDir, a, '360p', 'index.m3u8')), SEGMENTS['360p']!.slice(0, 4).map((x) => x.name), 'the old session keeps what was complete when the change was seen');
  t.same(playlistNames(path.join(s.recordingsDir, bId, '360p', 'index.m3u8')), SEGMENTS['360p']!.slice(4, 6).map((x) => x.name), 'the new one only what followed');
  t.same(s.queued, [a]);
});

t.test('a reconnect (a new publish) after the session changed: the recording of the old session is closed with what it had, the new session gets its own', async (t) => {
  const s = setup('reconnectsplit');
  const b = await streamWithPublish('reconnectsplit-stream');
  const sessionA = await sessionOn(b.streamId, { from: '-1 hour', to: '1 hour' });
  const first = createRecorder(s.deps, { ...b, liveDir: s.live.dir });
  await first.start(RENDITIONS);
  s.live.show(3);
  await first.tick();
  await first.pause(); // runEnded('reconnecting')
  const a = first.status().recordingId!;
  await db.query(`UPDATE publish_sessions SET ended_at = now(), end_reason = 'publisher_left' WHERE id = $1`, [b.publishSessionId]);
  const sessionB = await sessionOn(b.streamId, { from: '0 seconds', to: '1 hour' });
  await db.query(`UPDATE event_sessions SET ends_at = now() WHERE id = $1`, [sessionA]);
  const { rows: [p2] } = await db.query(`INSERT INTO publish_sessions (stream_id, ingest_id) VALUES ($1, 'ingest-test') RETURNING id`, [b.streamId]);
  const second = createRecorder(s.deps, { streamId: b.streamId, publishSessionId: p2.id, liveDir: s.live.dir });
  await second.start(RENDITIONS);
  s.live.show(5, { discontinuityAt: 3 });
  await second.tick();
  const bId = second.status().recordingId!;
  t.not(bId, a);
  t.same([(await findRecording(db, a))!.status, (await findRecording(db, bId))!.sessionId], ['finalising', sessionB]);
  t.same(playlistNames(path.join(s.recordingsDir, a, '360p', 'index.m3u8')), SEGMENTS['360p']!.slice(0, 3).map((x) => x.name));
  t.same(playlistNames(path.join(s.recordingsDir, bId, '360p', 'index.m3u8')), SEGMENTS['360p']!.slice(3, 5).map((x) => x.name), 'nothing of session A in B');
});
