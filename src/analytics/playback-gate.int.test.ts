// The playback gate through a real nginx: a viewer URL plays its own session's window only (lead,
// grace, the next session on the stream, a broadcast running over), a ban revokes it at once and an
// unban restores it, staff previews keep working uncounted, the plain path stays loopback-only.
// The API runs in-process with its gate on a 1 s timer; HLS files are written by hand.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { viewerDatagramKey } from './viewer-datagram.js';
import { silentLog } from '../log.js';
import { createPlaybackGate, desiredState } from './playback-gate.js';
import { startTestApi } from '../testing/api.js';
import { startTestNginx, testDir, waitFor } from '../testing/harness.js';
import { thumbnailFile } from '../thumbnails.js';

const api = await startTestApi(t, { env: { PLAYBACK_LEAD: '30m', PLAYBACK_GRACE: '15m' } });
const apiPort = Number(new URL(api.base).port);
const httpPort = await startTestNginx(t, { dataDir: testDir('gate-nginx'), mediaDir: api.config.mediaDir, apiPort, playbackSecret: api.config.playbackSecret });
await api.deps.viewerLines.listen(apiPort, '127.0.0.1', viewerDatagramKey(api.config.playbackSecret));
const gate = api.deps.playbackGate!.start(1);
t.teardown(() => gate.stop());

const admin = await api.user('admin');
const MIN = 60_000;
const at = (minutes: number) => new Date(Date.now() + minutes * MIN).toISOString();
const nginx = (url: string) => `http://127.0.0.1:${httpPort}${new URL(url).pathname}`;
const status = async (url: string) => (await fetch(nginx(url))).status;

/** A stream with a hand-written HLS ladder of one rendition and one segment. */
async function stream(title: string) {
  const r = await api.call('POST', '/streams', { token: admin.token, body: { title } });
  const dir = path.join(api.config.mediaDir, 'hls', r.body.playbackId);
  mkdirSync(path.join(dir, '360p'), { recursive: true, mode: 0o755 });
  writeFileSync(path.join(dir, 'master.m3u8'), '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n', { mode: 0o644 });
  writeFileSync(path.join(dir, '360p', 'index.m3u8'), '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg0.ts\n', { mode: 0o644 });
  writeFileSync(path.join(dir, '360p', 'seg0.ts'), Buffer.alloc(1880, 0x47), { mode: 0o644 });
  return r.body as { id: string; playbackId: string; playbackUrl: string };
}
async function event(visibility: 'public' | 'private') {
  const r = await api.call('POST', '/events', { token: admin.token, body: { title: `A ${visibility} day`, startsAt: at(-24 * 60), endsAt: at(48 * 60), status: 'published', visibility } });
  if (r.status !== 201) throw new Error(`event → ${r.status}`);
  return r.body.id as string;
}
async function session(eventId: string, o: { streamId: string; from: number; to: number }) {
  const r = await api.call('POST', `/events/${eventId}/sessions`, { token: admin.token, body: { title: 'Talk', startsAt: at(o.from), endsAt: at(o.to), streamId: o.streamId } });
  if (r.status !== 201) throw new Error(`session → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}
const move = async (id: string, from: number, to: number) => {
  const r = await api.call('PUT', `/sessions/${id}`, { token: admin.token, body: { startsAt: at(from), endsAt: at(to) } });
  if (r.status !== 200) throw new Error(`move → ${r.status} ${JSON.stringify(r.body)}`);
};
/** An attendee of the event (joined, or added by the admin to a private one) and their URL for the session. */
async function attendee(eventId: string, sessionId: string, visibility: 'public' | 'private' = 'public') {
  const u = await api.user('attendee');
  if (visibility === 'public') await api.call('POST', `/events/${eventId}/join`, { token: u.token });
  else await api.call('POST', `/events/${eventId}/attendees`, { token: admin.token, body: { userIds: [u.id] } });
  const s = await api.call('GET', `/sessions/${sessionId}`, { token: u.token });
  if (!s.body.playbackUrl) throw new Error(`no playbackUrl: ${JSON.stringify(s.body.watch)}`);
  return { ...u, url: s.body.playbackUrl as string };
}

t.test('a URL stops at the next session on its stream, even within the grace', async (t) => {
  const s = await stream('Main stage');
  const publicDay = await event('public');
  const privateDay = await event('private');
  // the public session ended 5 minutes ago (grace: 15 minutes); a private one follows in 8 minutes
  const talk = await session(publicDay, { streamId: s.id, from: -60, to: -5 });
  const secret = await session(privateDay, { streamId: s.id, from: 8, to: 60 });
  const ana = await attendee(publicDay, talk);
  const ben = await attendee(privateDay, secret, 'private');
  t.equal(await status(ana.url), 200, 'within the grace, before the next session: plays');
  t.equal(await status(ana.url.replace('master.m3u8', '360p/seg0.ts')), 200, 'segments too');
  t.equal(await status(ben.url), 403, 'the private session’s URL does not play the public one before it (its lead is held back)');
  // the private session starts now (a minute ago): the public URL is refused although within its grace
  await move(secret, -1, 60);
  t.equal(await status(ana.url), 403, 'the public attendee cannot watch the private session');
  // segment lookups are kept up to a second (their location's file cache): refused within it
  const closedAt = Date.now();
  await waitFor(async () => (await status(ana.url.replace('master.m3u8', '360p/seg0.ts'))) === 403, { what: 'its segments to be refused', timeoutMs: 3_000 });
  t.ok(Date.now() - closedAt < 2_500, 'nor its segments, within a second or so');
  t.equal(await status(ben.url), 200, 'its own attendee can');
  t.equal((await api.call('DELETE', `/events/${privateDay}`, { token: admin.token })).status, 204);
  t.equal(await status(ben.url), 403, 'its event deleted: refused at once');
});

t.test('a URL handed out early plays from the lead before its session only', async (t) => {
  const s = await stream('Side stage');
  const day = await event('public');
  const later = await session(day, { streamId: s.id, from: 40, to: 100 });
  const cem = await attendee(day, later);
  t.equal(await status(cem.url), 403, '40 minutes before the start (lead: 30 minutes): refused');
  await move(later, 20, 100);
  t.equal(await status(cem.url), 200, '20 minutes before the start: plays');
  // an earlier session on the same stream, still running: the later URL waits for it to close
  await session(day, { streamId: s.id, from: -30, to: 10 });
  t.equal(await status(cem.url), 403, 'not while an earlier session on the stream runs');
});

t.test('a broadcast that runs over keeps its session open while it lasts (the timer, no change through the API)', async (t) => {
  const s = await stream('Overrun');
  const day = await event('public');
  const talk = await session(day, { streamId: s.id, from: -180, to: -60 });
  const dia = await attendee(day, talk);
  t.equal(await status(dia.url), 403, 'an hour after the end, nothing on air: refused');
  const { rows } = await api.pool.query<{ id: string }>(
    `INSERT INTO publish_sessions (stream_id, ingest_id, started_at) VALUES ($1, 'test-ingest', now() - interval '170 minutes') RETURNING id`,
    [s.id],
  );
  await waitFor(async () => (await status(dia.url)) === 200, { what: 'the overrunning session to open', timeoutMs: 15_000 });
  t.pass('the publish that began in its window is still on: plays past end + grace');
  await api.pool.query(`UPDATE publish_sessions SET ended_at = now(), end_reason = 'test' WHERE id = $1`, [rows[0]!.id]);
  await waitFor(async () => (await status(dia.url)) === 403, { what: 'the session to close', timeoutMs: 15_000 });
  t.pass('the publish ended: refused');
  // a publish that began before the session's window is not its broadcast
  await api.pool.query(`INSERT INTO publish_sessions (stream_id, ingest_id, started_at) VALUES ($1, 'test-ingest', now() - interval '5 hours')`, [s.id]);
  await api.deps.playbackGate!.sync();
  t.equal(await status(dia.url), 403, 'a publish begun before its window does not keep it open');
});

t.test('a ban revokes a URL at once and takes the next one away; an unban restores it', async (t) => {
  const s = await stream('Bans');
  const day = await event('public');
  const talk = await session(day, { streamId: s.id, from: -10, to: 60 });
  const eve = await attendee(day, talk);
  const fay = await attendee(day, talk);
  t.equal(await status(eve.url), 200);
  const ban = await api.call('POST', `/events/${day}/bans`, { token: admin.token, body: { userId: eve.id } });
  t.equal(ban.status, 201);
  t.equal(await status(eve.url), 403, 'refused as soon as the ban is answered');
  t.equal(await status(eve.url.replace('master.m3u8', '360p/seg0.ts')), 403);
  t.equal(await status(fay.url), 200, 'other viewers play on');
  const again = await api.call('GET', `/sessions/${talk}`, { token: eve.token });
  t.match(again.body, { playbackUrl: null, watch: { allowed: false, reason: /removed you|removed from this event/ } }, 'a banned attendee gets no URL');
  const list = await api.call('GET', `/events/${day}/sessions`, { token: eve.token });
  t.equal(list.body.items[0].playbackUrl, null);
  // the timer keeps it so
  await new Promise((r) => setTimeout(r, 2500));
  t.equal(await status(eve.url), 403, 'still refused after the timer’s passes');
  t.equal((await api.call('DELETE', `/events/${day}/bans/${eve.id}`, { token: admin.token })).status, 204);
  await waitFor(async () => (await status(eve.url)) === 200, { what: 'the unbanned viewer to play again', timeoutMs: 10_000 });
  t.pass('unbanned: plays again');
  t.ok((await api.call('GET', `/sessions/${talk}`, { token: eve.token })).body.playbackUrl, 'and gets a URL again');
});

t.test('staff previews play outside any session and are not counted', async (t) => {
  const s = await stream('Preview only');
  const r = await api.call('GET', `/streams/${s.id}`, { token: admin.token });
  t.equal(await status(r.body.playbackUrl), 200, 'a stream without a session: the preview plays');
  const forged = r.body.playbackUrl.replace(/\/v\/[A-Za-z0-9_-]{4}/, '/v/BBBB');
  t.equal(await status(forged), 403, 'its signature is still checked');
  // a viewer of a live session is counted; the preview never is
  const day = await event('public');
  const talk = await session(day, { streamId: s.id, from: -5, to: 60 });
  const gus = await attendee(day, talk);
  t.equal(await status(gus.url), 200);
  t.equal(await status(r.body.playbackUrl), 200, 'the preview plays during the session too');
  await waitFor(async () => (await api.call('GET', `/analytics/sessions/${talk}`, { token: admin.token })).body.currentViewers === 1, { what: 'the viewer to be counted', timeoutMs: 15_000 });
  const previewKeys = [
    ...(await api.deps.redis.keys(`${api.config.redisPrefix}:*00000000-0000-0000-0000-000000000000*`)),
    ...(await api.deps.redis.keys(`${api.config.redisPrefix}:*AAAAAAAAAAAAAAAAAAAAAA*`)),
  ];
  t.same(previewKeys, [], 'nothing kept for the preview');
});

t.test('the live thumbnail: handed out with the playback URL while fresh, served with the same token and gate, never counted', async (t) => {
  const s = await stream('Thumbnail');
  const day = await event('public');
  const talk = await session(day, { streamId: s.id, from: -10, to: 60 });
  const ivy = await attendee(day, talk);
  const joe = await attendee(day, talk);
  const thumbOf = async (token: string) => (await api.call('GET', `/sessions/${talk}`, { token })).body.thumbnailUrl as string | null;
  t.equal(await thumbOf(ivy.token), null, 'not live, no picture: no URL');
  const jpeg = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x180', '-frames:v', '1', '-c:v', 'mjpeg', '-f', 'image2pipe', 'pipe:1']).stdout;
  const file = thumbnailFile(api.config.mediaDir, s.playbackId);
  writeFileSync(file, jpeg, { mode: 0o644 });
  t.equal(await thumbOf(ivy.token), null, 'a picture of a stream that is not live: no URL');
  await api.pool.query(`UPDATE streams SET status = 'live' WHERE id = $1`, [s.id]);
  const url = await thumbOf(ivy.token);
  t.equal(url, ivy.url.replace(/master\.m3u8$/, 'thumb.jpg'), 'live with a fresh picture: the URL, with the playback token');
  const r = await fetch(nginx(url!));
  t.equal(r.status, 200);
  t.equal(r.headers.get('content-type'), 'image/jpeg');
  t.equal(r.headers.get('cache-control'), 'no-cache');
  t.same(Buffer.from(await r.arrayBuffer()), jpeg, 'the picture on disk');
  const admin1 = (await api.call('GET', `/streams/${s.id}`, { token: admin.token })).body;
  t.equal(admin1.thumbnailUrl, admin1.playbackUrl.replace(/master\.m3u8$/, 'thumb.jpg'), "staff get it with their preview's token");
  t.equal((await fetch(nginx(admin1.thumbnailUrl))).status, 200, 'and it is served');
  const list = await api.call('GET', `/streams?status=live`, { token: admin.token });
  t.equal(list.body.items.find((x: { id: string }) => x.id === s.id)?.thumbnailUrl, admin1.thumbnailUrl, 'in the stream list too');
  t.equal((await api.call('GET', `/events/${day}/sessions`, { token: ivy.token })).body.items[0].thumbnailUrl, url, 'and in the session list');
  // the refusals of a playback URL apply
  t.equal((await fetch(nginx(url!.replace(/\/v\/[A-Za-z0-9_-]{4}/, '/v/BBBB')))).status, 403, 'a forged token: 403');
  t.equal((await fetch(nginx(url!.replace(/thumb\.jpg$/, 'other.jpg')))).status, 404, 'no other picture behind a token');
  t.equal((await api.call('POST', `/events/${day}/bans`, { token: admin.token, body: { userId: ivy.id } })).status, 201);
  t.equal((await fetch(nginx(url!))).status, 403, 'a banned viewer: 403 at once');
  t.equal(await thumbOf(ivy.token), null, 'and no URL');
  // fetching the picture is not watching: joe only looks at it, then plays once
  const joeThumb = (await thumbOf(joe.token))!;
  for (let i = 0; i < 3; i++) t.equal((await fetch(nginx(joeThumb))).status, 200);
  await new Promise((r) => setTimeout(r, 3000)); // nginx flushes viewer lines every second, the forwarder polls four times a second
  const viewers = async () => (await api.call('GET', `/analytics/sessions/${talk}`, { token: admin.token })).body.currentViewers;
  t.equal(await viewers(), 0, 'thumbnail requests count no viewer');
  t.equal(await status(joe.url), 200);
  await waitFor(async () => (await viewers()) === 1, { what: 'the playing viewer to be counted', timeoutMs: 15_000 });
  t.pass('a playlist request does');
  // a picture the worker stopped renewing (it died) is not handed out
  const old = (Date.now() - 60_000) / 1000;
  utimesSync(file, old, old);
  t.equal(await thumbOf(joe.token), null, 'a stale picture: no URL');
  t.equal((await api.call('GET', `/streams/${s.id}`, { token: admin.token })).body.thumbnailUrl, null);
});

t.test('the plain path stays loopback-only', async (t) => {
  const s = await stream('Plain');
  t.equal((await fetch(`http://127.0.0.1:${httpPort}/hls/${s.playbackId}/master.m3u8`)).status, 200, 'from loopback');
  const other = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
  if (!other) return void t.comment('this machine has no non-loopback IPv4 address: the refusal is not checked here');
  t.equal((await fetch(`http://${other.address}:${httpPort}/hls/${s.playbackId}/master.m3u8`)).status, 403, `from ${other.address}: refused`);
  const r = await api.call('GET', `/streams/${s.id}`, { token: admin.token });
  t.equal((await fetch(`http://${other.address}:${httpPort}${new URL(r.body.playbackUrl).pathname}`)).status, 200, 'a signed URL plays from there');
});

t.test('several nodes at once: passes agree, stale markers go, a fresh one from elsewhere waits a pass', async (t) => {
  const window = api.config.playbackWindow;
  const nodes = [1, 2, 3].map(() => createPlaybackGate({ db: api.pool, mediaDir: api.config.mediaDir, ...window, log: silentLog() }));
  await Promise.all(Array.from({ length: 10 }, (_, i) => nodes[i % 3]!.sync()));
  const want = await desiredState(api.pool, window);
  const dir = (kind: string) => path.join(api.config.mediaDir, 'access', kind);
  t.same(new Set(readdirSync(dir('open'))), want.open, 'the open markers are the open sessions');
  t.ok(want.open.size >= 3, 'several sessions are open');
  // a marker another node wrote just now (for a change this pass may not have read) stays a pass
  const stray = path.join(dir('deny'), 'A'.repeat(22) + 'B'.repeat(22));
  writeFileSync(stray, '');
  await nodes[0]!.sync();
  t.ok(existsSync(stray), 'a fresh marker from elsewhere is left for the next pass');
  utimesSync(stray, new Date(Date.now() - 5000), new Date(Date.now() - 5000));
  await nodes[1]!.sync();
  t.notOk(existsSync(stray), 'once older, a marker nothing calls for is removed');
});
