// Raw SQL for recordings (migration 007): one function per statement, db first. A row moves
// recording → finalising → ready | failed; only the writer of a `recording` row (the recording
// output, or the sweep for one whose writer died) moves it on, and only the finalise job ends it.
import type { Db } from '../db/pool.js';
import type { RecordedRendition } from './playlist.js';

export type RecordingStatus = 'recording' | 'finalising' | 'ready' | 'failed';

export interface RecordingRow {
  id: string;
  streamId: string | null;
  sessionId: string | null;
  publishSessionId: string | null;
  status: RecordingStatus;
  startedAt: Date;
  endedAt: Date | null;
  durationSeconds: number | null;
  sizeBytes: number;
  renditions: RecordedRendition[];
  statusReason: string | null;
}

const COLUMNS = `id, stream_id AS "streamId", session_id AS "sessionId", publish_session_id AS "publishSessionId", status,
  started_at AS "startedAt", ended_at AS "endedAt", duration_seconds AS "durationSeconds", size_bytes::float8 AS "sizeBytes",
  renditions, status_reason AS "statusReason"`;

export async function findRecording(db: Db, id: string): Promise<RecordingRow | null> {
  const { rows } = await db.query<RecordingRow>(`SELECT ${COLUMNS} FROM recordings WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/**
 * The recording a run of this broadcast continues: the one its publish left open (a restart, a
 * takeover, a worker killed), or — after a reconnect within the grace, which is a new publish —
 * the stream's recording of the same session written to within the last `withinSeconds`.
 */
export async function findOpenRecording(
  db: Db,
  o: { streamId: string; publishSessionId: string; sessionId: string | null; withinSeconds: number },
): Promise<RecordingRow | null> {
  const { rows } = await db.query<RecordingRow>(
    `SELECT ${COLUMNS} FROM recordings
      WHERE stream_id = $1 AND status = 'recording' AND session_id IS NOT DISTINCT FROM $3
        AND (publish_session_id = $2 OR updated_at > now() - make_interval(secs => $4))
      ORDER BY started_at DESC LIMIT 1`,
    [o.streamId, o.publishSessionId, o.sessionId, o.withinSeconds],
  );
  return rows[0] ?? null;
}

/** The recording a publish left open, whatever its session (a handed-over job whose publisher left before it ran). */
export async function openRecordingOfPublish(db: Db, publishSessionId: string): Promise<RecordingRow | null> {
  const { rows } = await db.query<RecordingRow>(
    `SELECT ${COLUMNS} FROM recordings WHERE publish_session_id = $1 AND status = 'recording' ORDER BY started_at DESC LIMIT 1`,
    [publishSessionId],
  );
  return rows[0] ?? null;
}

/**
 * A recording of the stream still open for another session than the one starting now: left by
 * this publish's dead worker, or by the publish a reconnect within the grace replaced.
 */
export async function leftOpenRecording(db: Db, o: { streamId: string; publishSessionId: string; withinSeconds: number }): Promise<RecordingRow | null> {
  const { rows } = await db.query<RecordingRow>(
    `SELECT ${COLUMNS} FROM recordings
      WHERE stream_id = $1 AND status = 'recording'
        AND (publish_session_id = $2 OR updated_at > now() - make_interval(secs => $3))
      ORDER BY started_at DESC LIMIT 1`,
    [o.streamId, o.publishSessionId, o.withinSeconds],
  );
  return rows[0] ?? null;
}

export async function insertRecording(
  db: Db,
  r: { streamId: string; sessionId: string | null; publishSessionId: string; renditions: RecordedRendition[] },
): Promise<RecordingRow> {
  const { rows } = await db.query<RecordingRow>(
    `INSERT INTO recordings (stream_id, session_id, publish_session_id, renditions) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
    [r.streamId, r.sessionId, r.publishSessionId, JSON.stringify(r.renditions)],
  );
  return rows[0]!;
}

/** The writer's progress (also its sign of life for the sweep). False: the row is no longer `recording` (someone closed it). */
export async function touchRecording(db: Db, r: { id: string; durationSeconds: number; sizeBytes: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE recordings SET duration_seconds = $2, size_bytes = $3, updated_at = now() WHERE id = $1 AND status = 'recording'`,
    [r.id, r.durationSeconds, r.sizeBytes],
  );
  return rowCount === 1;
}

/** recording → finalising (the writer stops: publish ended, session changed, disk low). False when it already moved on. */
export async function closeRecording(db: Db, r: { id: string; reason?: string | null }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE recordings SET status = 'finalising', ended_at = now(), status_reason = COALESCE($2, status_reason), updated_at = now()
      WHERE id = $1 AND status = 'recording'`,
    [r.id, r.reason ?? null],
  );
  return rowCount === 1;
}

/**
 * Recordings whose writer is gone (no touch for `quietSeconds`: a worker killed with no other to
 * continue, a power cut) are closed here, and those left `finalising` for `lostSeconds` (their
 * job lost with Redis) are handed out again. Answers the ids to finalise.
 */
export async function closeAbandonedRecordings(db: Db, o: { quietSeconds: number; lostSeconds: number }): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `UPDATE recordings SET status = 'finalising', ended_at = COALESCE(ended_at, updated_at), updated_at = now()
      WHERE (status = 'recording' AND updated_at < now() - make_interval(secs => $1))
         OR (status = 'finalising' AND updated_at < now() - make_interval(secs => $2))
      RETURNING id`,
    [o.quietSeconds, o.lostSeconds],
  );
  return rows.map((r) => r.id);
}

/** finalising → ready, with what the finalise measured. */
export async function markReady(db: Db, r: { id: string; durationSeconds: number; sizeBytes: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE recordings SET status = 'ready', duration_seconds = $2, size_bytes = $3, updated_at = now() WHERE id = $1 AND status = 'finalising'`,
    [r.id, r.durationSeconds, r.sizeBytes],
  );
  return rowCount === 1;
}

/** finalising → failed, with the reason (a line the broadcaster may read). */
export async function markRecordingFailed(db: Db, r: { id: string; reason: string; sizeBytes?: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE recordings SET status = 'failed', status_reason = $2, size_bytes = COALESCE($3, size_bytes), updated_at = now()
      WHERE id = $1 AND status = 'finalising'`,
    [r.id, r.reason.slice(0, 500), r.sizeBytes ?? null],
  );
  return rowCount === 1;
}
