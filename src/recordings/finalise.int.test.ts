// The finalise (VOD playlists, MP4, poster; retried, idempotent) and the sweep of abandoned
// recordings, against real Postgres, real files and real ffmpeg (src/testing/live-ladder.ts).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { liveLadderFixture, playlistNames, RENDITIONS } from '../testing/live-ladder.js';
import { run } from '../testing/harness.js';
import { createFinaliseHandler, finaliseRecording, MP4_NAME, POSTER_NAME } from './finalise.js';
import { createRecorder } from './recorder.js';
import { findRecording } from './repo.js';
import { startRecordingSweep } from './sweep.js';
const { db, log, work, SEGMENTS, COUNT, streamWithPublish, setup } = await liveLadderFixture(t);

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
