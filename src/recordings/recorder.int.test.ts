// The recording writer (which recording, split, continue, disk guard, the output's run ends)
// against real Postgres and real files: a "live" ladder of ffmpeg-made segments listed one at a
// time (src/testing/live-ladder.ts).
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { liveLadderFixture, playlistNames, RENDITIONS } from '../testing/live-ladder.js';
import { parseSegments } from './playlist.js';
import { createRecorder } from './recorder.js';
import { recordingOutput } from './recording-output.js';
import { findRecording } from './repo.js';
const { db, work, SEGMENTS, liveLadder, streamWithPublish, sessionOn, setup } = await liveLadderFixture(t);

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
