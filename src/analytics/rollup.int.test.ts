// The roll-up against real api processes, Redis and Postgres, with viewer lines sent over UDP as
// the forwarder beside nginx sends them (to every API node), timestamped over several past minutes so the test does
// not wait for the clock. Node A only collects; node B collects and runs the roll-up. B is
// killed mid-event and started again: every minute is written, once, with exactly the watch
// time the lines imply; lines repeated to both nodes count once; a line for a minute already
// frozen is refused.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import t from 'tap';
import { freePort } from '../local/processes.js';
import { randomId, spawnRole, testDatabase, testEnv, waitFor, type RoleProc } from '../testing/harness.js';
import { viewerId } from './playback.js';
import { createDatagramSealer, viewerDatagramKey } from './viewer-datagram.js';
import { MINUTE_MS, VIEWER_WINDOW_MS } from './signals.js';

const { url, pool } = await testDatabase(t);
const { redisUrl } = testEnv();
const secret = `s${randomId(20)}`;
const [portA, portB] = [await freePort(), await freePort()];
const env = {
  DATABASE_URL: url,
  REDIS_URL: redisUrl,
  REDIS_PREFIX: `t${randomId()}`,
  JWT_SECRET: randomId(24),
  PLAYBACK_SECRET: secret,
  ANALYTICS_ROLLUP_EVERY: '1s',
  LOG_LEVEL: 'warn',
};
const startNode = (name: string, port: number, rollup: boolean): RoleProc => spawnRole(t, 'api', { ...env, PORT: String(port), INSTANCE_ID: name, ANALYTICS_ROLLUP: rollup ? 'on' : 'off' }, name);
const healthy = (port: number) => waitFor(() => fetch(`http://127.0.0.1:${port}/api/health`).then((r) => r.ok, () => false), { what: `api on ${port}`, timeoutMs: 20_000 });

const one = async (sql: string, params: unknown[] = []) => (await pool.query<{ id: string }>(sql, params)).rows[0]!.id;
const users = await Promise.all([1, 2, 3].map((i) => one(`INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id`, [`v${i}-${randomId()}@example.com`, `Viewer ${i}`])));
const eventId = await one(`INSERT INTO events (title, starts_at, ends_at, status) VALUES ('Roll-up', now() - interval '1 hour', now() + interval '1 hour', 'published') RETURNING id`);
// the collector folds only lines of the renditions the session's stream produces (here as the worker writes them when it goes live)
const rendition = (name: string, height: number) => ({ name, width: (height * 16) / 9, height, bandwidth: 1000, codecs: 'avc1.64001f,mp4a.40.2', frameRate: 30, passthrough: false });
const streamId = await one(`INSERT INTO streams (title, key_digest, playback_id, status, renditions) VALUES ('S', $1, $2, 'live', $3) RETURNING id`, [randomBytes(32), randomId(10), JSON.stringify([rendition('720p', 720), rendition('360p', 360)])]);
const sessionId = await one(`INSERT INTO event_sessions (event_id, title, starts_at, ends_at, stream_id) VALUES ($1, 'Main', now() - interval '1 hour', now() + interval '1 hour', $2) RETURNING id`, [eventId, streamId]);

const sealer = createDatagramSealer({ key: viewerDatagramKey(secret) });
const socket = createSocket('udp4');
t.teardown(() => socket.close());
type Line = { user: string; at: number; path: string };
let requests = 0;
const rid = new Map<Line, string>(); // one nginx request id per line, kept when a line is sent again
function datagram(l: Line): Buffer {
  if (!rid.has(l)) rid.set(l, (++requests).toString(16).padStart(32, '0'));
  return sealer.seal([`v1 ${(l.at / 1000).toFixed(3)} ${viewerId(sessionId, l.user)} 200 1000 ${l.path} ${rid.get(l)}`])[0]!;
}
async function send(lines: Line[], ports: number[]) {
  for (const l of lines) {
    for (const port of ports) await new Promise<void>((r) => socket.send(datagram(l), port, '127.0.0.1', () => r()));
  }
}

/** What the fold must make of the lines: ms watched per minute and user (gaps up to the window). */
function expected(lines: Line[]): Map<string, number> {
  const out = new Map<string, number>();
  const byUser = new Map<string, number[]>();
  for (const l of lines) byUser.set(l.user, [...(byUser.get(l.user) ?? []), l.at]);
  for (const [user, times] of byUser) {
    times.sort((a, b) => a - b);
    times.forEach((t, i) => {
      const key = (m: number) => `${m}|${user}`;
      out.set(key(Math.floor(t / MINUTE_MS)), out.get(key(Math.floor(t / MINUTE_MS))) ?? 0);
      const prev = times[i - 1];
      if (prev === undefined || t - prev > VIEWER_WINDOW_MS || t === prev) return;
      for (let m = Math.floor(prev / MINUTE_MS); m <= Math.floor(t / MINUTE_MS); m++) {
        const overlap = Math.min(t, (m + 1) * MINUTE_MS) - Math.max(prev, m * MINUTE_MS);
        if (overlap > 0) out.set(key(m), (out.get(key(m)) ?? 0) + overlap);
      }
    });
  }
  return out;
}
async function written(): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ m: string; user_id: string; watch_ms: number }>(
    `SELECT (extract(epoch FROM minute) / 60)::bigint::text AS m, user_id, watch_ms FROM viewer_minutes WHERE session_id = $1`,
    [sessionId],
  );
  return new Map(rows.map((r) => [`${r.m}|${r.user_id}`, r.watch_ms]));
}
const sorted = (m: Map<string, number>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b));

t.test('a roll-up node killed mid-event: every minute is written once, exactly', async (t) => {
  const now = Date.now();
  const M = Math.floor(now / MINUTE_MS);
  const [u1, u2, u3] = users as [string, string, string];
  // early part (minutes M-6 … M-4, frozen by the first roll-up): u1 watches 130 s across two
  // minute boundaries, u2 watches, leaves for a minute (a new sitting) and comes back, u3 once
  const early: Line[] = [];
  const start = (M - 6) * MINUTE_MS + 50_000;
  for (let s = 0; s <= 130; s += 2) early.push({ user: u1, at: start + s * 1000, path: s % 4 ? '360p/index.m3u8' : `360p/seg${s}.ts` });
  for (let s = 0; s <= 30; s += 3) early.push({ user: u2, at: start + s * 1000 + 500, path: '360p/index.m3u8' });
  for (let s = 90; s <= 110; s += 3) early.push({ user: u2, at: start + s * 1000 + 500, path: '720p/index.m3u8' });
  early.push({ user: u3, at: start + 10_000, path: 'master.m3u8' });

  const a = startNode('node-a', portA, false);
  let b = startNode('node-b', portB, true);
  await Promise.all([healthy(portA), healthy(portB)]);
  // nginx sends every line to every node: the same lines twice, in two orders
  await send(early, [portA, portB]);
  await send([...early].reverse(), [portA]);
  const want = expected(early);
  await waitFor(async () => JSON.stringify(sorted(await written())) === JSON.stringify(sorted(want)), { what: 'the early minutes to be written', timeoutMs: 15_000, intervalMs: 250 });
  t.pass('early minutes written exactly (repeats counted once)');

  // those minutes are frozen now (written): a line for one of them is refused
  await send([{ user: u3, at: start + 20_000, path: '360p/seg1.ts' }], [portA, portB]);

  b.kill('SIGKILL');
  await b.exited;
  // late part (minutes L-1 and L, still open): u1 and u3 watch across the minute boundary nearest
  // to now (peaks are sampled from lines of the last minute only, so these must be recent)
  const L = Math.round(Date.now() / MINUTE_MS);
  const late: Line[] = [];
  const lateStart = L * MINUTE_MS - 40_000;
  for (let s = 0; s <= 50; s += 2) late.push({ user: u1, at: lateStart + s * 1000, path: '360p/index.m3u8' }, { user: u3, at: lateStart + s * 1000 + 700, path: '360p/index.m3u8' });
  await send(late, [portA]); // node B is down: only A takes the lines
  await new Promise((r) => setTimeout(r, 2_500));
  const lateMinutes = [L - 1, L].map(String);
  const during = await written();
  t.notOk([...during.keys()].some((k) => lateMinutes.includes(k.split('|')[0]!)), 'nothing is written while the only roll-up node is down');

  b = startNode('node-b', portB, true);
  const all = expected([...early, ...late]);
  await waitFor(async () => JSON.stringify(sorted(await written())) === JSON.stringify(sorted(all)), { what: 'every minute after the restart', timeoutMs: 20_000, intervalMs: 250 });
  t.pass('after the restart every minute is there, with exactly the watch time of its lines; the late line changed nothing');

  const minutes = (await pool.query<{ m: string; viewers: number; peak: number }>(`SELECT (extract(epoch FROM minute) / 60)::bigint::text AS m, viewers, peak_viewers AS peak FROM session_minutes WHERE session_id = $1 ORDER BY minute`, [sessionId])).rows;
  const distinct = new Map<string, Set<string>>();
  for (const k of all.keys()) {
    const [m, u] = k.split('|') as [string, string];
    distinct.set(m, (distinct.get(m) ?? new Set()).add(u));
  }
  t.same(minutes.map((r) => [r.m, r.viewers]), [...distinct.entries()].sort(([x], [y]) => Number(x) - Number(y)).map(([m, s]) => [m, s.size]), 'distinct viewers per minute');
  t.ok(minutes.every((r) => r.peak <= r.viewers), 'peaks within the minute’s viewers (old minutes replayed here have none)');
  const segments = (await pool.query<{ rendition: string; segments: number }>(`SELECT rendition, sum(segments)::int AS segments FROM rendition_minutes WHERE session_id = $1 GROUP BY 1 ORDER BY 1`, [sessionId])).rows;
  t.same(segments, [{ rendition: '360p', segments: early.filter((l) => l.path.endsWith('.ts')).length }, { rendition: '720p', segments: 0 }, { rendition: 'master', segments: 0 }], 'segments served per rendition (the refused late one not among them)');
  t.equal((await pool.query(`SELECT 1 FROM event_minutes WHERE event_id = $1`, [eventId])).rowCount! > 0, true, 'event-wide peaks written');
  a.kill();
  b.kill();
});
