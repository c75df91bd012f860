// Recordings served over a real stack (api, ingest, worker, nginx, Postgres, Redis): the lists and
// who may see them, replay at every rung and the MP4 download through nginx with personal tokens
// (Range, MIME types, Content-Disposition), the gate after the event and under a ban, a live URL
// that never reaches a recording, replay counted in analytics with its own flag, deletion,
// retention (old recordings and orphan directories) and the disk use in /metrics and the stream.
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { signPlaybackToken } from '../analytics/playback.js';
import { run, waitFor } from '../testing/harness.js';
import { FIXTURE_RENDITIONS, FIXTURE_SECONDS, insertRecording } from '../testing/recordings.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t, { extraEnv: { ANALYTICS_ROLLUP_EVERY: '2s', RECORDING_RETENTION_DAYS: '1', RECORDING_RETENTION_EVERY: '2s', PLAYBACK_GATE_EVERY: '1s' } });
const recordingsDir = path.join(stack.dataDir, 'recordings');
const admin = stack.token;
const db = stack.db;
const one = async (sql: string, params: unknown[] = []) => (await db.query<{ id: string }>(sql, params)).rows[0]!.id;

// an event that is over: its session's live window is closed, its recordings play
const stream = await stack.createStream('Recorded');
const eventId = await one(`INSERT INTO events (title, starts_at, ends_at, status) VALUES ('Earlier today', now() - interval '5 hours', now() - interval '1 hour', 'published') RETURNING id`);
const sessionId = await one(`INSERT INTO event_sessions (event_id, title, starts_at, ends_at, stream_id) VALUES ($1, 'Keynote', now() - interval '4 hours', now() - interval '3 hours', $2) RETURNING id`, [eventId, stream.id]);
const attendee = await stack.user('Ana');
const outsider = await stack.user('Olu');
const banned = await stack.user('Bob');
for (const u of [attendee, banned]) await db.query(`INSERT INTO event_attendees (event_id, user_id) VALUES ($1, $2)`, [eventId, u.id]);
// (RECORDING_RETENTION_DAYS=1 below: these are kept)
const rec = await insertRecording(db, { recordingsDir, streamId: stream.id, sessionId, startedAt: new Date(Date.now() - 4 * 3_600_000 + 60_000) });
const list = (who: string, p = `/sessions/${sessionId}/recordings`) => stack.api('GET', p, undefined, who);
const mine = async (token: string) => (await list(token)).body.items.find((i: { id: string }) => i.id === rec.id);

async function probe(url: string): Promise<{ width: number; height: number; duration: number; decodedOk: boolean }> {
  const p = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height:format=duration', '-of', 'json', url]);
  const j = JSON.parse(p.stdout || '{}');
  const decode = await run('ffmpeg', ['-v', 'error', '-i', url, '-f', 'null', '-']);
  return { width: j.streams?.[0]?.width, height: j.streams?.[0]?.height, duration: Number(j.format?.duration), decodedOk: decode.code === 0 && decode.stderr.trim() === '' };
}
/** Waits until the playback gate has opened the recording's replay (its marker). */
const replayOpen = (url: string) => waitFor(async () => (await fetch(url)).status === 200, { what: 'the replay to open', timeoutMs: 20_000, intervalMs: 250 });

t.test("a session's recordings: who may see the session may see them, URLs personal to the caller", async (t) => {
  const r = await list(attendee.token);
  t.equal(r.status, 200);
  t.same(Object.keys(r.body), ['items', 'nextCursor']);
  const item = r.body.items[0];
  t.match(item, { id: rec.id, status: 'ready', durationSeconds: FIXTURE_SECONDS, sizeBytes: rec.sizeBytes, renditions: FIXTURE_RENDITIONS.map((x) => ({ name: x.name, width: x.width, height: x.height })) });
  t.match(item.replayUrl, new RegExp(`^http://127\\.0\\.0\\.1:${stack.httpPort}/replay/${rec.id}/v/[A-Za-z0-9_-]{44}\\.\\d+\\.[A-Za-z0-9_-]{22}/master\\.m3u8$`));
  t.match(item.downloadUrl, /\/download\/onair-\d{4}-\d\d-\d\d-[0-9a-f]{8}\.mp4$/);
  t.match(item.posterUrl, /\/poster\.jpg$/);
  t.not(item.replayUrl, (await mine(banned.token))?.replayUrl ?? '', 'each viewer has their own');
  t.same([(await list(outsider.token)).status, (await list(outsider.token)).body.code], [403, 'forbidden'], 'an outsider (not attending) may not');
  const speaker = await stack.user('Sam', 'speaker');
  await db.query(`INSERT INTO session_speakers (session_id, user_id) VALUES ($1, $2)`, [sessionId, speaker.id]);
  t.equal((await list(speaker.token)).status, 200, 'a speaker of the event may');
  t.equal((await list(admin)).status, 200, 'staff may');
  const s = await list(admin, `/streams/${stream.id}/recordings`);
  t.equal(s.status, 200, "the stream's recordings, for admins");
  t.equal(s.body.items[0].id, rec.id);
  t.equal((await list(attendee.token, `/streams/${stream.id}/recordings`)).status, 403, 'not for attendees');
  t.equal((await list(attendee.token, `/sessions/00000000-0000-4000-8000-000000000000/recordings`)).status, 404);
  // pagination like every list
  const more = await insertRecording(db, { recordingsDir, streamId: stream.id, sessionId, startedAt: new Date(Date.now() - 4 * 3_600_000 + 30_000), files: false, status: 'failed' });
  const p1 = await list(attendee.token, `/sessions/${sessionId}/recordings?limit=1`);
  t.equal(p1.body.items[0].id, rec.id, 'newest first');
  const p2 = await list(attendee.token, `/sessions/${sessionId}/recordings?limit=1&cursor=${p1.body.nextCursor}`);
  t.same([p2.body.items.map((i: { id: string }) => i.id), p2.body.items[0].replayUrl, p2.body.nextCursor], [[more.id], null, null], 'the next page; a failed recording has no URLs');
});

t.test('replay at every rung and the MP4 download through nginx, after the event', async (t) => {
  const item = await mine(attendee.token);
  await replayOpen(item.replayUrl);
  const master = await fetch(item.replayUrl);
  t.same([master.status, master.headers.get('content-type'), master.headers.get('cache-control')], [200, 'application/vnd.apple.mpegurl', 'no-cache']);
  const variants = [...(await master.text()).matchAll(/^([^#\s][^\n]*\.m3u8)$/gm)].map((m) => m[1]!);
  t.equal(variants.length, FIXTURE_RENDITIONS.length, 'every rung in the master');
  for (const r of FIXTURE_RENDITIONS) {
    const url = new URL(`${r.name}/index.m3u8`, item.replayUrl).toString();
    const playlist = await (await fetch(url)).text();
    t.match(playlist, /#EXT-X-PLAYLIST-TYPE:VOD[^]*#EXT-X-ENDLIST/, `${r.name}: a VOD playlist`);
    const seg = await fetch(new URL(playlist.split('\n').find((l) => l.endsWith('.ts'))!, url));
    t.equal(seg.headers.get('content-type'), 'video/mp2t', `${r.name}: segments are video/mp2t`);
    await seg.arrayBuffer();
    const p = await probe(url);
    t.same([p.width, p.height, p.decodedOk], [r.width, r.height, true], `${r.name}: decodes at ${r.width}x${r.height}`);
    t.ok(Math.abs(p.duration - FIXTURE_SECONDS) <= 2.1, `${r.name}: ${p.duration} s`);
  }
  const all = await probe(item.replayUrl);
  t.ok(all.decodedOk, 'the master decodes with ffmpeg');

  const whole = await fetch(item.downloadUrl);
  t.same([whole.status, whole.headers.get('content-type'), whole.headers.get('accept-ranges')], [200, 'video/mp4', 'bytes']);
  const name = item.downloadUrl.split('/').pop();
  t.equal(whole.headers.get('content-disposition'), `attachment; filename="${name}"`);
  const size = (await whole.arrayBuffer()).byteLength;
  const part = await fetch(item.downloadUrl, { headers: { range: 'bytes=100-1099' } });
  t.same([part.status, part.headers.get('content-range'), (await part.arrayBuffer()).byteLength], [206, `bytes 100-1099/${size}`, 1000], 'Range: 206 with the part asked for');
  const mp4 = await probe(item.downloadUrl);
  t.same([mp4.width, mp4.height, mp4.decodedOk], [640, 360, true], 'the MP4 decodes at the top rung');
  t.ok(Math.abs(mp4.duration - FIXTURE_SECONDS) <= 2.1, `the MP4 lasts ${mp4.duration} s`);
  const poster = await fetch(item.posterUrl);
  t.same([poster.status, poster.headers.get('content-type')], [200, 'image/jpeg']);
});

t.test('the gate: a replay plays after the event (the live URL does not); only a ready recording plays', async (t) => {
  const item = await mine(attendee.token);
  await replayOpen(item.replayUrl);
  const session = await stack.api('GET', `/sessions/${sessionId}`, undefined, attendee.token);
  t.equal((await fetch(session.body.playbackUrl)).status, 403, "the session's live URL is closed (its window is over)");
  t.equal((await fetch(item.replayUrl)).status, 200, 'its replay plays');
  // a correctly signed URL of a recording still being finalised: the gate has no replay marker for it
  const busy = await insertRecording(db, { recordingsDir, streamId: stream.id, sessionId, status: 'finalising' });
  const token = signPlaybackToken(stack.env.PLAYBACK_SECRET!, { playbackId: `replay/${busy.id}`, sessionId, userId: attendee.id });
  const url = `${stack.base}/replay/${busy.id}/v/${token}/master.m3u8`;
  await new Promise((r) => setTimeout(r, 2500)); // a gate pass or two (PLAYBACK_GATE_EVERY=1s)
  t.equal((await fetch(url)).status, 403, 'finalising: refused although signed');
  await db.query(`UPDATE recordings SET status = 'ready' WHERE id = $1`, [busy.id]);
  await replayOpen(url);
  t.pass('ready: the same URL plays within a gate pass');
  await db.query(`UPDATE recordings SET status = 'failed' WHERE id = $1`, [busy.id]);
  await waitFor(async () => (await fetch(url)).status === 403, { what: 'the replay to close', timeoutMs: 10_000, intervalMs: 200 });
  t.pass('failed: closed again');
});

t.test('tokens: forged, another recording, a live URL — none opens a recording', async (t) => {
  const item = await mine(attendee.token);
  await replayOpen(item.replayUrl);
  const token = /\/v\/([^/]+)\//.exec(item.replayUrl)![1]!;
  t.equal((await fetch(item.replayUrl.replace(/\.[A-Za-z0-9_-]{22}\//, `.${'A'.repeat(22)}/`))).status, 403, 'a forged signature');
  const other = await insertRecording(db, { recordingsDir, streamId: stream.id, sessionId });
  t.equal((await fetch(item.replayUrl.replace(rec.id, other.id))).status, 403, "one recording's token does not open another");
  // the same token on the live path (with the recording id, or the stream's playback id): refused
  t.equal((await fetch(`${stack.base}/hls/${rec.id}/v/${token}/master.m3u8`)).status, 403, 'a replay token on the live path');
  t.equal((await fetch(`${stack.base}/hls/${stream.playbackId}/v/${token}/master.m3u8`)).status, 403);
  // a live token (the stream's staff preview) on the replay path
  const live = (await stack.api('GET', `/streams/${stream.id}`, undefined, admin)).body.playbackUrl as string;
  const liveToken = /\/v\/([^/]+)\//.exec(live)![1]!;
  t.equal((await fetch(`${stack.base}/replay/${rec.id}/v/${liveToken}/master.m3u8`)).status, 403, 'a live token on the replay path');
  // the live path serves the media dir only: nothing under it reaches the recordings dir
  for (const p of [`/hls/${stream.playbackId}/v/${liveToken}/../../../recordings/${rec.id}/master.m3u8`, `/hls/../recordings/${rec.id}/master.m3u8`, `/hls/${rec.id}/master.m3u8`]) {
    t.not((await fetch(`${stack.base}${p}`)).status, 200, `${p}: not a recording`);
  }
  t.equal((await fetch(`${stack.base}/replay/${rec.id}/master.m3u8`)).status, 404, 'no plain replay path while tokens are on');
});

t.test('replay counts in analytics like live watching, with its own flag', async (t) => {
  const item = await mine(attendee.token);
  await replayOpen(item.replayUrl);
  const url = new URL('180p/index.m3u8', item.replayUrl).toString();
  const playlist = await (await fetch(url)).text();
  for (const seg of playlist.split('\n').filter((l) => l.endsWith('.ts'))) {
    await (await fetch(new URL(seg, url))).arrayBuffer();
    await new Promise((r) => setTimeout(r, 1000)); // a player's pace: watch time between requests
  }
  await (await fetch(item.downloadUrl, { headers: { range: 'bytes=0-99' } })).arrayBuffer();
  const rows = await waitFor(
    async () => {
      const { rows } = await db.query<{ rendition: string; segments: number }>(`SELECT rendition, sum(segments)::int AS segments FROM rendition_minutes WHERE session_id = $1 GROUP BY rendition ORDER BY rendition`, [sessionId]);
      return rows.some((r) => r.rendition === 'replay:download') && rows.some((r) => r.rendition === 'replay:180p' && r.segments >= 3) ? rows : null;
    },
    { what: 'replay lines rolled up', timeoutMs: 30_000, intervalMs: 500 },
  );
  t.ok(rows.every((r) => r.rendition.startsWith('replay:')), `every line of this session is a replay: ${rows.map((r) => r.rendition).join(', ')}`);
  const watched = await waitFor(async () => {
    const { rows } = await db.query<{ ms: number }>(`SELECT sum(watch_ms)::int AS ms FROM viewer_minutes WHERE session_id = $1 AND user_id = $2`, [sessionId, attendee.id]);
    return (rows[0]?.ms ?? 0) >= 2000 ? rows[0]!.ms : null;
  }, { what: 'watch time', timeoutMs: 30_000, intervalMs: 500 });
  t.ok(watched >= 2000, `the replay counts as watch time (${watched} ms)`);
  const figures = await stack.api('GET', `/analytics/sessions/${sessionId}`, undefined, admin);
  t.ok(figures.body.uniqueViewers >= 1, 'the replay viewer shows in the session’s figures');
  const served = rows.filter((r) => r.rendition !== 'replay:master' && r.rendition !== 'replay:download').reduce((n, r) => n + r.segments, 0);
  t.ok(figures.body.replay.segments >= served && served >= 3, `and its replay figure: ${figures.body.replay.segments} segments, ${figures.body.replay.bytes} bytes`);
  t.ok(figures.body.replay.bytes > 0);
  const ev = await stack.api('GET', `/analytics/events/${eventId}`, undefined, admin);
  t.equal(ev.body.replay.segments, figures.body.replay.segments, 'the event’s figure sums its sessions’');
});

t.test('a ban stops the replay at nginx and the list', async (t) => {
  const item = await mine(banned.token);
  await replayOpen(item.replayUrl);
  const ban = await stack.api('POST', `/events/${eventId}/bans`, { userId: banned.id, reason: 'spam' }, admin);
  t.equal(ban.status, 201);
  await waitFor(async () => (await fetch(item.replayUrl)).status === 403, { what: 'the replay to close for the banned viewer', timeoutMs: 10_000, intervalMs: 200 });
  t.pass('the banned viewer’s replay URL is refused');
  const r = await list(banned.token);
  t.same([r.status, r.body.code], [403, 'banned']);
  t.equal((await fetch((await mine(attendee.token)).replayUrl)).status, 200, 'others still play');
});

t.test('DELETE removes the files and the row; not while recording', async (t) => {
  const live = await insertRecording(db, { recordingsDir, streamId: stream.id, sessionId, status: 'recording', endedAt: null });
  const busy = await stack.api('DELETE', `/recordings/${live.id}`, undefined, admin);
  t.same([busy.status, busy.body.code], [409, 'recording_in_progress']);
  t.ok(existsSync(live.dir), 'its files stay');
  const gone = await insertRecording(db, { recordingsDir, streamId: stream.id, sessionId });
  t.equal((await stack.api('DELETE', `/recordings/${gone.id}`, undefined, attendee.token)).status, 403, 'admins only');
  t.equal((await stack.api('DELETE', `/recordings/${gone.id}`, undefined, admin)).status, 204);
  t.notOk(existsSync(gone.dir), 'the files are gone');
  t.equal((await db.query(`SELECT 1 FROM recordings WHERE id = $1`, [gone.id])).rowCount, 0, 'and the row');
  t.equal((await stack.api('DELETE', `/recordings/${gone.id}`, undefined, admin)).status, 404);
  await db.query(`UPDATE recordings SET status = 'failed' WHERE id = $1`, [live.id]);
  t.equal((await stack.api('DELETE', `/recordings/${live.id}`, undefined, admin)).status, 204, 'once failed, it may go');
});

t.test('disk used by recordings: in the stream and in /metrics', async (t) => {
  const { rows } = await db.query<{ bytes: number }>(`SELECT sum(size_bytes)::float8 AS bytes FROM recordings WHERE stream_id = $1`, [stream.id]);
  t.ok(rows[0]!.bytes > 0);
  const s = await stack.api('GET', `/streams/${stream.id}`, undefined, admin);
  t.equal(s.body.recordingsBytes, rows[0]!.bytes, 'GET /api/streams/:id: recordingsBytes');
  const ready = await db.query<{ bytes: number }>(`SELECT sum(size_bytes)::float8 AS bytes FROM recordings WHERE status = 'ready'`);
  const text = await (await fetch(`http://127.0.0.1:${stack.apiPort}/metrics`, { headers: { authorization: `Bearer ${stack.env.INTERNAL_API_KEY}` } })).text();
  t.match(text, new RegExp(`^onair_recordings_bytes\\{status="ready"[^}]*\\} ${ready.rows[0]!.bytes}$`, 'm'), 'the gauge: bytes of ready recordings');
  t.match(text, /^onair_recordings_disk_free_bytes(\{[^}]*\})? [1-9]\d*$/m, 'and the free space of the recordings volume');
});

t.test('retention: old recordings go with their files, orphan directories too; fresh, unfinished and foreign ones stay', async (t) => {
  const old = await insertRecording(db, { recordingsDir, streamId: stream.id, sessionId, startedAt: new Date(Date.now() - 3 * 86_400_000) });
  const oldFailed = await insertRecording(db, { recordingsDir, sessionId, status: 'failed', startedAt: new Date(Date.now() - 2 * 86_400_000) });
  const oldRecording = await insertRecording(db, { recordingsDir, streamId: stream.id, status: 'recording', startedAt: new Date(Date.now() - 2 * 86_400_000), endedAt: null });
  const fresh = await insertRecording(db, { recordingsDir, streamId: stream.id, sessionId, startedAt: new Date(Date.now() - 3_600_000) });
  const orphan = path.join(recordingsDir, '11111111-2222-4333-8444-555555555555');
  const newOrphan = path.join(recordingsDir, '21111111-2222-4333-8444-555555555555');
  const foreign = path.join(recordingsDir, 'lost+found');
  for (const d of [orphan, newOrphan, foreign]) (mkdirSync(d, { recursive: true }), writeFileSync(path.join(d, 'x.ts'), 'x'));
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (const d of [orphan, foreign]) utimesSync(d, hourAgo, hourAgo);
  await waitFor(() => !existsSync(old.dir) && !existsSync(oldFailed.dir) && !existsSync(orphan), { what: 'the retention job', timeoutMs: 30_000, intervalMs: 250 });
  const left = (await db.query<{ id: string }>(`SELECT id FROM recordings WHERE id = ANY($1)`, [[old.id, oldFailed.id, oldRecording.id, fresh.id]])).rows.map((r) => r.id).sort();
  t.same(left, [oldRecording.id, fresh.id].sort(), 'the old rows are gone; one still recording and a fresh one stay');
  t.ok(existsSync(fresh.dir) && existsSync(oldRecording.dir), 'their files stay');
  t.ok(existsSync(newOrphan), 'a directory changed in the last minutes may be a writer’s about to insert its row: it stays');
  t.ok(existsSync(foreign), 'what is not a recording directory is not ours');
});
