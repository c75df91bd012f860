// Postgres unreachable while a stream is live — frozen (SIGSTOP: up but not answering) and
// restarted (stopped, started again on the same port) — ends no broadcast: no ENDLIST, the
// publisher stays connected, the playlists keep advancing, and everything catches up after.
// And a publish session ended in the database makes its ingest drop the publisher.
// A Postgres and Redis of this file's own: the suite's shared servers are never touched.
import { freePort } from '../local/processes.js';
import t, { type Test } from 'tap';
import { createPool, withTransaction } from '../db/pool.js';
import { silentLog } from '../log.js';
import { getText, publishTestPattern, spawnRole, waitFor, type Publisher } from '../testing/harness.js';
import { privateServices } from '../testing/private-services.js';
import { startStack } from '../testing/stack.js';

const services = await privateServices(t);
const stack = await startStack(t, { services, workerEnv: { WORKER_CONCURRENCY: '3' } }); // three streams at once in the restart drill
const ingest = stack.roles.find((r) => r.name === 'ingest')!;
// a second ingest on the same database: a publisher arriving there right after an outage must
// not take the stream from the first ingest's publisher, whose session only looks stale
const rtmpPort2 = await freePort();
const ingest2 = spawnRole(t, 'ingest', { ...stack.env, INSTANCE_ID: 'ingest-2', RTMP_PORT: String(rtmpPort2) }, 'ingest-2');
await waitFor(() => ingest2.output().includes('RTMP ingest listening'), { what: 'the second ingest' });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const connected = (p: Publisher) => p.child.exitCode === null && p.child.signalCode === null;

/** Polls every variant playlist as a player would: any ENDLIST, and the lowest media sequence. */
function watchPlaylists(urls: string[]) {
  const endlists: string[] = [];
  let sequence = -1;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      let lowest = Infinity;
      for (const url of urls) {
        const r = await getText(url).catch(() => null);
        if (r?.status !== 200) continue;
        if (r.text.includes('#EXT-X-ENDLIST')) endlists.push(url);
        lowest = Math.min(lowest, Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(r.text)?.[1] ?? -1));
      }
      if (Number.isFinite(lowest)) sequence = lowest;
      await sleep(1_000);
    }
  })();
  return { endlists, sequence: () => sequence, stop: async () => ((stopped = true), await loop) };
}

const variantsOf = (playbackId: string, master: string) => master.split('\n').filter((l) => l.endsWith('.m3u8')).map((l) => `${stack.base}/hls/${playbackId}/${l}`);

const s = await stack.createStream('postgres-outage');
const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 600, videoKbps: 500 });
await stack.waitForMaster(s.playbackId, 60_000);
await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the stream to be live' });
const master = (await getText(`${stack.base}/hls/${s.playbackId}/master.m3u8`)).text;
const variants = variantsOf(s.playbackId, master);
const { rows: sessionRows } = await stack.db.query(`SELECT id FROM publish_sessions WHERE stream_id = $1 AND ended_at IS NULL`, [s.id]);
const sessionId: string = sessionRows[0].id;
const playlists = watchPlaylists(variants);
t.teardown(() => playlists.stop());

/** After the outage: the stream live, the session open and touched again, progress written again. */
async function caughtUp(t: Test, o: { since: Date }) {
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the API to answer live', timeoutMs: 30_000, intervalMs: 500 });
  const touched = await waitFor(async () => {
    const { rows } = await stack.db.query(`SELECT ended_at, last_seen_at FROM publish_sessions WHERE id = $1`, [sessionId]);
    return rows[0].last_seen_at > o.since ? rows[0] : null;
  }, { what: 'the ingest to touch the session again', timeoutMs: 30_000, intervalMs: 500 });
  t.equal(touched.ended_at, null, 'the publish session is open');
  const progress = await waitFor(async () => {
    const { rows } = await stack.db.query(`SELECT progress FROM streams WHERE id = $1`, [s.id]);
    return new Date(rows[0].progress?.updatedAt ?? 0) > o.since ? rows[0].progress : null;
  }, { what: 'transcode progress written again', timeoutMs: 30_000, intervalMs: 500 });
  t.ok(progress, 'progress is recorded again');
  // the worker would judge the ingest gone after 15 s of untouched answers: look past that
  await sleep(17_000);
  const { rows } = await stack.db.query(`SELECT s.status, p.ended_at FROM streams s JOIN publish_sessions p ON p.id = s.current_publish_session_id WHERE s.id = $1`, [s.id]);
  t.same(rows[0], { status: 'live', ended_at: null }, 'still live, same session, a while after');
  t.ok(connected(pub), 'the publisher is still connected');
  t.same(playlists.endlists, [], 'no playlist got EXT-X-ENDLIST');
  for (const r of stack.roles) t.equal(r.child.exitCode, null, `${r.name} is still running`);
}

t.test('Postgres frozen for 60 s: nothing ends, queries fail in bounded time, everything catches up', async (t) => {
  const probe = createPool({ url: services.postgres.url, log: silentLog(), max: 1 });
  t.teardown(() => probe.end());
  await probe.query('SELECT 1'); // a connection that will be stuck in the freeze
  const sequenceBefore = playlists.sequence();

  services.postgres.freeze();
  const frozenAt = Date.now();
  // thawed on a timer of its own: a check that hangs on the frozen server must not keep it frozen
  const thawed = sleep(60_000).then(() => services.postgres.thaw());
  t.teardown(() => services.postgres.thaw());
  {
    // what an API user sees: an error in bounded time, not a request that hangs until the thaw
    const apiAnswer = stack.api('GET', `/streams/${s.id}`, undefined, stack.token).then((r) => ({ status: r.status, code: r.body?.code, after: Date.now() - frozenAt }));
    // a transaction on the frozen server fails within the client-side bound (not at thaw), and
    // its stuck connection is dropped, not handed to the next caller
    const txFailedAfter = await withTransaction(probe, (c) => c.query('SELECT 1')).then(() => null, () => Date.now() - frozenAt);
    t.ok(txFailedAfter !== null && txFailedAfter < 30_000, `the transaction failed after ${txFailedAfter} ms`);
    const nextAt = Date.now();
    const nextFailedAfter = await probe.query('SELECT 1').then(() => null, () => Date.now() - nextAt);
    t.ok(nextFailedAfter !== null && nextFailedAfter < 10_000, `the next query failed after ${nextFailedAfter} ms (a new connection, not the stuck one)`);
    const answer = await apiAnswer;
    t.comment(`API during the freeze: ${answer.status} after ${answer.after} ms`);
    t.same([answer.status, answer.code], [503, 'unavailable'], 'the API says the database is unavailable (a moment, retry)');
    t.ok(answer.after < 30_000, 'the API answers in bounded time');

    await sleep(Math.max(0, 59_000 - (Date.now() - frozenAt)));
    t.ok(playlists.sequence() >= sequenceBefore + 5, `the playlists kept advancing (media sequence ${sequenceBefore} → ${playlists.sequence()})`);
    t.ok(connected(pub), 'the publisher is connected during the freeze');
    t.same(playlists.endlists, [], 'no ENDLIST during the freeze');
  }
  await thawed;
  const { rows } = await stack.db.query('SELECT now() AS now');
  await caughtUp(t, { since: rows[0].now });
  t.equal((await probe.query('SELECT 1 AS one')).rows[0].one, 1, 'the pool answers again');
  t.match(ingest.output(), /Could not refresh the publishers’ heartbeat/, 'the ingest noticed the outage');
});

t.test('Postgres stopped for 20 s and started again: nothing ends, a second publisher does not steal the stream', async (t) => {
  // a second stream whose worker has just started ffmpeg: its first segments, and so its turn
  // to 'live', come while Postgres is down; it must still be marked live once Postgres is back
  const late = await stack.createStream('live-during-outage');
  const latePub = publishTestPattern(t, { url: stack.rtmpUrl(late.streamKey), width: 320, height: 180, fps: 10, seconds: 600, videoKbps: 200 });
  await waitFor(async () => {
    const { rows } = await stack.db.query(`SELECT p.transcode_starts FROM streams s JOIN publish_sessions p ON p.id = s.current_publish_session_id WHERE s.id = $1`, [late.id]);
    return rows[0]?.transcode_starts >= 1;
  }, { what: 'the second stream’s transcode to start', timeoutMs: 30_000, intervalMs: 100 });
  // a third stream whose publisher leaves while Postgres is down: its end is recorded once
  // Postgres is back (not guessed from missed touches later), so it goes offline with ENDLIST
  const leaving = await stack.createStream('leaves-during-outage');
  const leavingPub = publishTestPattern(t, { url: stack.rtmpUrl(leaving.streamKey), width: 320, height: 180, fps: 10, seconds: 600, videoKbps: 200 });
  await stack.waitForMaster(leaving.playbackId, 60_000);
  const sequenceBefore = playlists.sequence();
  await services.postgres.stop();
  await leavingPub.stop();
  const lateMaster = await waitFor(async () => (await getText(`${stack.base}/hls/${late.playbackId}/master.m3u8`)).status === 200, { what: 'the second stream’s master playlist', timeoutMs: 15_000 }).then(() => true, () => false);
  t.ok(lateMaster, 'the second stream’s playlists appear while Postgres is down');
  await sleep(20_000);
  t.ok(playlists.sequence() >= sequenceBefore + 3, `the playlists kept advancing (media sequence ${sequenceBefore} → ${playlists.sequence()})`);
  t.ok(connected(pub), 'the publisher is connected while Postgres is down');
  await services.postgres.start();
  const startedAt = new Date();

  // at once, while the session still looks stale (nobody could touch it for 20 s), another
  // encoder with the same key arrives at the second ingest: it is refused, the stream stays
  const thief = publishTestPattern(t, { url: `rtmp://127.0.0.1:${rtmpPort2}/live/${s.streamKey}`, width: 320, height: 180, fps: 10, seconds: 60, videoKbps: 200 });
  const thiefExit = await Promise.race([thief.exited.then(() => 'exited'), sleep(20_000).then(() => 'still connected')]);
  t.equal(thiefExit, 'exited', 'the second publisher is refused');
  const { rows } = await stack.db.query(`SELECT current_publish_session_id FROM streams WHERE id = $1`, [s.id]);
  t.equal(rows[0].current_publish_session_id, sessionId, 'the stream keeps its publish session');

  const { rows: now } = await stack.db.query('SELECT now() AS now');
  await caughtUp(t, { since: now[0].now < startedAt ? startedAt : now[0].now });
  t.equal(await stack.streamStatus(late.id), 'live', 'the stream that went live during the outage is marked live');
  const { rows: left } = await stack.db.query(`SELECT s.status, p.end_reason FROM streams s JOIN publish_sessions p ON p.id = s.current_publish_session_id WHERE s.id = $1`, [leaving.id]);
  t.same(left[0], { status: 'offline', end_reason: 'publisher_left' }, 'the publisher that left during the outage: its end recorded as it was');
  t.equal((await getText(`${stack.base}/hls/${leaving.playbackId}/master.m3u8`)).status, 200, 'its master playlist is still served');
  const leftPlaylist = (await getText(variantsOf(leaving.playbackId, (await getText(`${stack.base}/hls/${leaving.playbackId}/master.m3u8`)).text)[0]!)).text;
  t.match(leftPlaylist, /#EXT-X-ENDLIST/, 'and its playlist ended');
  t.ok(connected(latePub), 'its publisher is connected');
  await latePub.stop();
});

t.test('a publish session ended in the database: its ingest drops the publisher, which can come back', async (t) => {
  await stack.db.query(`UPDATE publish_sessions SET ended_at = now(), end_reason = 'test_ended' WHERE id = $1`, [sessionId]);
  const droppedAt = Date.now();
  const exit = await Promise.race([pub.exited.then(() => 'exited'), sleep(20_000).then(() => 'still connected')]);
  t.equal(exit, 'exited', `the ingest dropped the publisher (after ${Date.now() - droppedAt} ms)`);
  await waitFor(() => ingest.output().includes('Dropped a publisher whose publish session was ended elsewhere'), { what: 'the drop to be logged', timeoutMs: 5_000 });
  // the encoder reconnects: a new publish session, live again
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 60, videoKbps: 500 });
  await waitFor(async () => {
    const { rows } = await stack.db.query(`SELECT s.status FROM streams s WHERE s.id = $1 AND s.current_publish_session_id <> $2`, [s.id, sessionId]);
    return rows[0]?.status === 'live';
  }, { what: 'the stream live again on a new publish', timeoutMs: 40_000, intervalMs: 500 });
  t.pass('the stream came back');
});
