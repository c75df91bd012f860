// Raw SQL for reconnects (one function per statement, db first): a publish whose publisher's
// connection broke waits for it (`reconnect_deadline`), the publisher continues it as its next
// `connection`, the worker pulls that connection's `feed`, and a grace that runs out ends it.
import type { Db } from '../db/pool.js';
import type { PublishFeed, StreamStatus } from './types.js';

/** The publish, as the ingest's decision about a lost connection needs it; null when unknown. */
export async function publishOf(db: Db, publishSessionId: string): Promise<{ ended: boolean; connection: number; streamStatus: StreamStatus | null } | null> {
  const { rows } = await db.query<{ ended: boolean; connection: number; status: StreamStatus | null }>(
    `SELECT p.ended_at IS NOT NULL AS ended, p.connection, s.status
     FROM publish_sessions p LEFT JOIN streams s ON s.id = p.stream_id AND s.current_publish_session_id = p.id
     WHERE p.id = $1`,
    [publishSessionId],
  );
  const r = rows[0];
  return r ? { ended: r.ended, connection: r.connection, streamStatus: r.status } : null;
}

/**
 * The publisher's connection broke: its publish stays open (the stream `reconnecting`) until the
 * grace runs out, as long as that connection still holds it. True when written.
 */
export async function awaitPublisher(db: Db, a: { publishSessionId: string; connection: number; graceSeconds: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH away AS (
       UPDATE publish_sessions SET reconnect_deadline = now() + make_interval(secs => $3)
       WHERE id = $1 AND connection = $2 AND ended_at IS NULL RETURNING id, stream_id
     )
     UPDATE streams s SET status = 'reconnecting', updated_at = now()
     FROM away WHERE s.id = away.stream_id AND s.current_publish_session_id = away.id`,
    [a.publishSessionId, a.connection, a.graceSeconds],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * A publisher with the stream's key continues the stream's open publish as its next connection:
 * when the publish waits for its publisher (within the grace), or when it takes over `silent`, a
 * connection this ingest holds that has sent nothing for a while (a network drop leaves the old
 * socket open). Only a broadcast on air for viewers (live or reconnecting) is continued. One
 * statement: of two racing publishers one continues, the other finds the connection moved on.
 * The stream is `reconnecting` until the worker has new segments. Null when nothing was continued.
 */
export async function continuePublish(
  db: Db,
  c: { streamId: string; ingestId: string; remoteAddress: string | null; silent: { publishSessionId: string; connection: number } | null },
): Promise<{ publishSessionId: string; connection: number; wasStatus: StreamStatus } | null> {
  const { rows } = await db.query<{ id: string; connection: number; was: StreamStatus }>(
    `WITH cont AS (
       UPDATE publish_sessions p SET connection = p.connection + 1, reconnect_deadline = NULL, ingest_id = $2,
         remote_address = $3, last_seen_at = now(), feed = NULL
       FROM streams s
       WHERE s.id = $1 AND s.enabled AND p.id = s.current_publish_session_id AND p.ended_at IS NULL
         AND s.status IN ('live', 'reconnecting')
         AND (p.reconnect_deadline > now() OR (p.reconnect_deadline IS NULL AND p.id = $4 AND p.connection = $5))
       RETURNING p.id, p.connection, p.stream_id, s.status AS was
     )
     UPDATE streams s SET status = 'reconnecting', updated_at = now()
     FROM cont WHERE s.id = cont.stream_id
     RETURNING cont.id, cont.connection, cont.was`,
    [c.streamId, c.ingestId, c.remoteAddress, c.silent?.publishSessionId ?? null, c.silent?.connection ?? null],
  );
  const r = rows[0];
  return r ? { publishSessionId: r.id, connection: r.connection, wasStatus: r.was } : null;
}

/** Writes what a worker pulls for this connection (ignored once a newer connection holds the publish). */
export async function recordFeed(db: Db, publishSessionId: string, feed: PublishFeed): Promise<void> {
  await db.query(`UPDATE publish_sessions SET feed = $3 WHERE id = $1 AND connection = $2`, [publishSessionId, feed.connection, JSON.stringify(feed)]);
}

export async function feedOf(db: Db, publishSessionId: string): Promise<PublishFeed | null> {
  const { rows } = await db.query<{ feed: PublishFeed | null }>(`SELECT feed FROM publish_sessions WHERE id = $1`, [publishSessionId]);
  return rows[0]?.feed ?? null;
}

/** The grace ran out with nobody back: the publish ends (`reconnect_timeout`), the stream goes offline. True when written. */
export async function expireReconnect(db: Db, publishSessionId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH ended AS (
       UPDATE publish_sessions SET ended_at = now(), end_reason = 'reconnect_timeout', reconnect_deadline = NULL
       WHERE id = $1 AND ended_at IS NULL AND reconnect_deadline <= now() RETURNING id, stream_id
     )
     UPDATE streams s SET status = 'offline', status_reason = NULL, updated_at = now()
     FROM ended WHERE s.id = ended.stream_id AND s.current_publish_session_id = ended.id`,
    [publishSessionId],
  );
  return (rowCount ?? 0) > 0;
}

/** Publishes whose reconnect grace ran out more than `lateSeconds` ago (their job did not end them: a worker died meanwhile). */
export async function overdueReconnects(db: Db, lateSeconds: number): Promise<{ streamId: string; publishSessionId: string; playbackId: string }[]> {
  const { rows } = await db.query<{ id: string; current_publish_session_id: string; playback_id: string }>(
    `SELECT s.id, s.current_publish_session_id, s.playback_id FROM streams s
     JOIN publish_sessions p ON p.id = s.current_publish_session_id
     WHERE p.ended_at IS NULL AND p.reconnect_deadline < now() - make_interval(secs => $1)`,
    [lateSeconds],
  );
  return rows.map((r) => ({ streamId: r.id, publishSessionId: r.current_publish_session_id, playbackId: r.playback_id }));
}
