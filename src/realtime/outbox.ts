// The outbox: how a committed change reaches the session's room, and only a committed one.
//
// A chat message, pin, deletion or settings change, a poll opened, counted or closed, a question
// asked, upvoted or answered writes its frame into realtime_outbox in the SAME transaction as
// the change (`add`). After COMMIT the node that made the change drains the session at once
// (`kick`); every API node also sweeps the table each second, for frames whose node failed to
// publish them (Redis down or frozen, the node killed between COMMIT and publish, Postgres gone
// mid-drain). So a rolled-back change never reaches anyone, and a committed one reaches everyone
// as soon as Postgres and Redis are both there.
//
// Order: one node at a time drains a session (a transaction-scoped advisory lock per session,
// taken with try: a node that finds it taken leaves the work to the holder, which looks again
// after it lets go), oldest row first, and deletes what it published in that transaction. Chat
// rows are written under the session's chat row lock and so are committed in id order; rows of
// one poll or question under that poll's or question's row lock. Each node publishes over one
// Redis connection and waits for Redis's answer before the next frame, so every node's sockets
// receive a session's frames in that order.
//
// At least once: if a node dies after publishing but before its delete commits, the next drain
// publishes those rows again. Clients drop a chat:message whose seq they already have; the
// other frames carry the state they report (counts, flags), so a repeat changes nothing.
import type pg from 'pg';
import type { Db } from '../db/pool.js';
import type { Log } from '../log.js';
import type { Hub } from './hub.js';
import { sessionRoom, type ServerFrame } from './protocol.js';

export interface Outbox {
  /** Inside the change's transaction: the frame goes to the session's room once this commits. */
  add(db: Db, sessionId: string, frame: ServerFrame): Promise<void>;
  /** After COMMIT: publish the session's waiting frames now (never throws; the sweep retries). */
  kick(sessionId: string): void;
  /** Publishes every waiting frame now; resolves when this node has tried each session once. */
  sweep(): Promise<void>;
  /** The sweep every `everyMs` (each API node runs one). */
  start(everyMs?: number): void;
  stop(): Promise<void>;
}

/** Advisory lock class of the outbox drain (the second key is the session id's hash). */
const DRAIN_LOCK = 7_202_612;
const BATCH = 200;
const LOG_EVERY_MS = 10_000;

async function insertFrame(db: Db, o: { sessionId: string; data: string }): Promise<void> {
  await db.query({ name: 'outbox-insert', text: `INSERT INTO realtime_outbox (session_id, data) VALUES ($1, $2)`, values: [o.sessionId, o.data] });
}

async function tryDrainLock(db: Db, sessionId: string): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok`, [DRAIN_LOCK, sessionId]);
  return rows[0]!.ok;
}

async function waiting(db: Db, sessionId: string, limit: number): Promise<{ id: string; data: string }[]> {
  const { rows } = await db.query<{ id: string; data: string }>({
    name: 'outbox-waiting',
    text: `SELECT o.id::text AS id, o.data FROM realtime_outbox o WHERE o.session_id = $1 ORDER BY o.id LIMIT $2`,
    values: [sessionId, limit],
  });
  return rows;
}

async function removeRows(db: Db, ids: string[]): Promise<void> {
  await db.query(`DELETE FROM realtime_outbox WHERE id = ANY($1::bigint[])`, [ids]);
}

async function sessionsWaiting(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ session_id: string }>(`SELECT DISTINCT session_id FROM realtime_outbox`);
  return rows.map((r) => r.session_id);
}

export function createOutbox(o: { db: pg.Pool; hub: Hub; log: Log }): Outbox {
  const { db, hub, log } = o;
  /** Sessions this node is draining now; `again`: kicked meanwhile. */
  const draining = new Map<string, { again: boolean }>();
  let loggedAt = 0;
  const warn = (err: unknown, sessionId: string) => {
    if (Date.now() - loggedAt < LOG_EVERY_MS) return;
    loggedAt = Date.now();
    log.warn({ sessionId, err: (err as Error).message }, 'Could not publish waiting realtime frames (Postgres or Redis unreachable?); the sweep retries each second.');
  };

  /** One pass under the session's drain lock. 'busy': another node holds it (and will look again). */
  async function drainOnce(sessionId: string): Promise<'done' | 'busy'> {
    const client = await db.connect();
    const ignore = () => undefined; // a connection lost mid-drain fails the query in flight; it must not crash the node
    client.on('error', ignore);
    const room = sessionRoom(sessionId);
    let failure: unknown = null;
    try {
      await client.query('BEGIN');
      if (!(await tryDrainLock(client, sessionId))) {
        await client.query('ROLLBACK');
        return 'busy';
      }
      for (;;) {
        const rows = await waiting(client, sessionId, BATCH);
        if (rows.length === 0) break;
        const sent: string[] = [];
        for (const row of rows) {
          try {
            await hub.publishData(room, row.data);
          } catch (err) {
            failure = err;
            break;
          }
          sent.push(row.id);
        }
        // what went out is gone from the outbox, even when a later frame could not be published
        if (sent.length > 0) await removeRows(client, sent);
        if (failure || rows.length < BATCH) break; // what came meanwhile: the look after COMMIT finds it
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.removeListener('error', ignore);
      client.release();
    }
    if (failure) throw failure;
    return 'done';
  }

  async function drain(sessionId: string): Promise<void> {
    const state = { again: false };
    draining.set(sessionId, state);
    try {
      for (;;) {
        state.again = false;
        if ((await drainOnce(sessionId)) === 'busy') return;
        // a frame committed while the lock was held, by a node that found it taken, is ours to send
        if (!state.again && (await waiting(db, sessionId, 1)).length === 0) return;
      }
    } finally {
      draining.delete(sessionId);
    }
  }

  function kick(sessionId: string): void {
    const running = draining.get(sessionId);
    if (running) return void (running.again = true);
    drain(sessionId).catch((err: unknown) => warn(err, sessionId));
  }

  let timer: NodeJS.Timeout | null = null;
  let sweeping: Promise<void> | null = null;
  async function sweep(): Promise<void> {
    let sessions: string[];
    try {
      sessions = await sessionsWaiting(db);
    } catch (err) {
      return warn(err, '*');
    }
    await Promise.all(sessions.filter((s) => !draining.has(s)).map((s) => drain(s).catch((err: unknown) => warn(err, s))));
  }

  return {
    async add(client, sessionId, frame) {
      await insertFrame(client, { sessionId, data: JSON.stringify(frame) });
    },
    kick,
    sweep,
    start(everyMs = 1_000) {
      if (timer) return;
      const tick = () => {
        sweeping = sweep().finally(() => {
          sweeping = null;
          if (timer) timer = setTimeout(tick, everyMs).unref();
        });
      };
      timer = setTimeout(tick, everyMs).unref();
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      await sweeping;
    },
  };
}
