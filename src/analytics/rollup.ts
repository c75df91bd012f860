// The per-minute roll-up: copies the raw signals in Redis (signals.ts) into Postgres, where the
// analytics endpoints read them. A BullMQ job scheduler runs it every ANALYTICS_ROLLUP_EVERY on
// whichever API node's worker is free; a run may repeat, overlap or die half-way without harm:
//   1. minutes older than FREEZE_AFTER_MS are frozen first (the fold refuses later lines for them),
//   2. every minute still in Redis is written with "set" semantics (a repeat writes the same rows),
//   3. only then are frozen minutes deleted from Redis.
// A dead roll-up loses nothing while Redis keeps the signals (KEEP_SECONDS): the next run, on any
// node, writes every minute that is still there.
import { Queue, Worker } from 'bullmq';
import { withTransaction, type Pool } from '../db/pool.js';
import type { Log } from '../log.js';
import type { ApiMetrics } from '../metrics.js';
import type { Redis } from '../redis/connection.js';
import { KEEP_SECONDS, MINUTE_MS, type Signals } from './signals.js';

/** A minute is frozen this long after it ends: lines reach Redis within a second or two. */
export const FREEZE_AFTER_MS = 2 * MINUTE_MS;
/** A session or event without lines for this long leaves the roll-up's list once written. */
const IDLE_MS = 10 * MINUTE_MS;
export const ANALYTICS_QUEUE = 'analytics';

// KEYS[1]: the :final key. ARGV[1]: newest minute to freeze. Returns the frozen minute.
const FREEZE = `
local now = tonumber(redis.call('GET', KEYS[1]) or '-1')
local want = tonumber(ARGV[1])
if want > now then redis.call('SET', KEYS[1], want, 'EX', ARGV[2]); return want end
return now
`;
// KEYS[1]: the sessions/events zset, ARGV: id, the score it had when read. Drops it if unchanged.
const FORGET = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
`;

export interface RollupResult {
  sessions: number;
  events: number;
  minutes: number;
  frozen: number;
}

const toMinute = (m: number) => new Date(m * MINUTE_MS);
const parsePeak = (v: string | undefined) => {
  const [n, at] = (v ?? '').split(':').map(Number);
  return n !== undefined && Number.isFinite(n) && at !== undefined && Number.isFinite(at) ? { n, at: new Date(at) } : null;
};

export function createRollup(o: { db: Pool; redis: Redis; signals: Signals; log: Log }) {
  const { db, redis } = o;
  const P = o.signals.prefix;

  async function rollSession(sessionId: string, score: string, frozenMax: number, now: number): Promise<{ minutes: number; frozen: number }> {
    const k = `${P}:s:${sessionId}`;
    const final = Number(await redis.eval(FREEZE, 1, `${k}:final`, String(frozenMax), String(KEEP_SECONDS)));
    const minutes = (await redis.zrange(`${k}:mins`, '0', '-1')).map(Number);
    const read = redis.pipeline();
    read.hgetall(`${k}:p`);
    for (const m of minutes) read.hgetall(`${k}:w:${m}`).hgetall(`${k}:r:${m}`);
    const replies = ((await read.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v as Record<string, string>;
    });
    const peaks = replies[0] ?? {};
    const viewer = { m: [] as number[], u: [] as string[], w: [] as number[] };
    const minute = { m: [] as number[], viewers: [] as number[], peak: [] as number[], at: [] as (Date | null)[] };
    const rendition = { m: [] as number[], r: [] as string[], n: [] as number[], b: [] as number[] };
    minutes.forEach((m, i) => {
      const watch = replies[1 + 2 * i] ?? {};
      const rends = replies[2 + 2 * i] ?? {};
      const users = Object.keys(watch);
      for (const u of users) viewer.m.push(m), viewer.u.push(u), viewer.w.push(Math.min(MINUTE_MS, Number(watch[u])));
      const p = parsePeak(peaks[String(m)]);
      // the live count keeps a viewer for the window after their last request: within a minute,
      // never more at once than were seen in it
      minute.m.push(m), minute.viewers.push(users.length), minute.peak.push(Math.min(p?.n ?? 0, users.length)), minute.at.push(p?.at ?? null);
      for (const [field, v] of Object.entries(rends)) {
        if (!field.endsWith(':n')) continue;
        const r = field.slice(0, -2);
        rendition.m.push(m), rendition.r.push(r), rendition.n.push(Number(v)), rendition.b.push(Number(rends[`${r}:b`] ?? 0));
      }
    });
    if (minutes.length > 0) await writeSession(sessionId, viewer, minute, rendition);
    // written: frozen minutes can go (a later line for them is refused by the fold)
    const done = minutes.filter((m) => m <= final);
    if (done.length > 0) {
      const clean = redis.pipeline();
      for (const m of done) clean.del(`${k}:w:${m}`, `${k}:r:${m}`, `${k}:q:${m}`).hdel(`${k}:p`, String(m)).zrem(`${k}:mins`, String(m));
      await clean.exec();
    }
    if (done.length === minutes.length && Number(score) < now - IDLE_MS) await redis.eval(FORGET, 1, `${P}:sessions`, sessionId, score);
    return { minutes: minutes.length, frozen: done.length };
  }

  async function writeSession(
    sessionId: string,
    viewer: { m: number[]; u: string[]; w: number[] },
    minute: { m: number[]; viewers: number[]; peak: number[]; at: (Date | null)[] },
    rendition: { m: number[]; r: string[]; n: number[]; b: number[] },
  ) {
    await withTransaction(db, async (client) => {
      // rows for users or sessions deleted meanwhile are skipped rather than failing the run
      await client.query(
        `INSERT INTO viewer_minutes (session_id, minute, user_id, watch_ms)
         SELECT s.id, to_timestamp(x.m * 60), x.u, x.w
           FROM unnest($2::bigint[], $3::uuid[], $4::int[]) AS x(m, u, w)
           JOIN users ON users.id = x.u
           JOIN event_sessions s ON s.id = $1
         ON CONFLICT (session_id, minute, user_id) DO UPDATE SET watch_ms = EXCLUDED.watch_ms`,
        [sessionId, viewer.m, viewer.u, viewer.w],
      );
      await client.query(
        `INSERT INTO session_minutes (session_id, minute, viewers, peak_viewers, peak_at)
         SELECT s.id, to_timestamp(x.m * 60), x.v, x.p, x.at
           FROM unnest($2::bigint[], $3::int[], $4::int[], $5::timestamptz[]) AS x(m, v, p, at)
           JOIN event_sessions s ON s.id = $1
         ON CONFLICT (session_id, minute) DO UPDATE SET viewers = EXCLUDED.viewers, peak_viewers = EXCLUDED.peak_viewers, peak_at = EXCLUDED.peak_at`,
        [sessionId, minute.m, minute.viewers, minute.peak, minute.at],
      );
      await client.query(
        `INSERT INTO rendition_minutes (session_id, minute, rendition, segments, bytes)
         SELECT s.id, to_timestamp(x.m * 60), x.r, x.n, x.b
           FROM unnest($2::bigint[], $3::text[], $4::int[], $5::bigint[]) AS x(m, r, n, b)
           JOIN event_sessions s ON s.id = $1
         ON CONFLICT (session_id, minute, rendition) DO UPDATE SET segments = EXCLUDED.segments, bytes = EXCLUDED.bytes`,
        [sessionId, rendition.m, rendition.r, rendition.n, rendition.b],
      );
    });
  }

  async function rollEvent(eventId: string, score: string, frozenMax: number, now: number): Promise<number> {
    const k = `${P}:e:${eventId}`;
    const final = Number(await redis.eval(FREEZE, 1, `${k}:final`, String(frozenMax), String(KEEP_SECONDS)));
    const peaks = await redis.hgetall(`${k}:p`);
    const rows = Object.entries(peaks).map(([m, v]) => ({ m: Number(m), p: parsePeak(v) })).filter((r) => r.p !== null);
    if (rows.length > 0) {
      await db.query(
        `INSERT INTO event_minutes (event_id, minute, peak_viewers, peak_at)
         SELECT e.id, to_timestamp(x.m * 60), x.p, x.at
           FROM unnest($2::bigint[], $3::int[], $4::timestamptz[]) AS x(m, p, at)
           JOIN events e ON e.id = $1
         ON CONFLICT (event_id, minute) DO UPDATE SET peak_viewers = EXCLUDED.peak_viewers, peak_at = EXCLUDED.peak_at`,
        [eventId, rows.map((r) => r.m), rows.map((r) => r.p!.n), rows.map((r) => r.p!.at)],
      );
    }
    const done = Object.keys(peaks).filter((m) => Number(m) <= final);
    if (done.length > 0) await redis.hdel(`${k}:p`, ...done);
    if (done.length === Object.keys(peaks).length && Number(score) < now - IDLE_MS) await redis.eval(FORGET, 1, `${P}:events`, eventId, score);
    return rows.length;
  }

  return {
    /** One roll-up run over everything still in Redis. */
    async run(nowMs = Date.now()): Promise<RollupResult> {
      const frozenMax = Math.floor((nowMs - FREEZE_AFTER_MS) / MINUTE_MS) - 1;
      const result: RollupResult = { sessions: 0, events: 0, minutes: 0, frozen: 0 };
      const sessions = await redis.zrange(`${P}:sessions`, '0', '-1', 'WITHSCORES');
      for (let i = 0; i < sessions.length; i += 2) {
        const r = await rollSession(sessions[i]!, sessions[i + 1]!, frozenMax, nowMs);
        result.sessions++, (result.minutes += r.minutes), (result.frozen += r.frozen);
      }
      const events = await redis.zrange(`${P}:events`, '0', '-1', 'WITHSCORES');
      for (let i = 0; i < events.length; i += 2) {
        await rollEvent(events[i]!, events[i + 1]!, frozenMax, nowMs);
        result.events++;
      }
      return result;
    },
  };
}

export type Rollup = ReturnType<typeof createRollup>;

/**
 * Runs the roll-up every `everySeconds` through a BullMQ job scheduler (one job per interval,
 * whichever node takes it). `connection` must be a blocking connection (maxRetriesPerRequest null).
 */
export async function scheduleRollups(o: { connection: Redis; prefix: string; everySeconds: number; rollup: Rollup; log: Log; metrics?: ApiMetrics }): Promise<{ close(): Promise<void> }> {
  const queue = new Queue(ANALYTICS_QUEUE, { connection: o.connection, prefix: o.prefix });
  // without a listener BullMQ prints every reconnect error's stack while Redis is down; the
  // connection logs the outage once (redis/connection.ts)
  queue.on('error', () => undefined);
  await queue.upsertJobScheduler('rollup', { every: o.everySeconds * 1000 }, { name: 'rollup', opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } } });
  const worker = new Worker(
    ANALYTICS_QUEUE,
    async () => {
      const end = o.metrics?.rollupSeconds.startTimer();
      const r = await o.rollup.run();
      end?.();
      o.log.debug(r, 'Analytics rolled up.');
      return r;
    },
    { connection: o.connection, prefix: o.prefix, concurrency: 1 },
  );
  worker.on('failed', (_job, err) => o.log.warn({ err: err.message }, 'An analytics roll-up failed; the next run writes the same minutes.'));
  worker.on('error', (err) => o.log.warn({ err: err.message }, 'The analytics roll-up worker reported an error.'));
  return {
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}
