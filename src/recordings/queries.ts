// Reads and deletes of the `recordings` table (migration 007) for the API and the retention job.
// The writer side (rows created while live, finalised by a job) lives apart; this file never
// changes a recording's status.
import type { Db } from '../db/pool.js';
import type { RecordedRendition } from './playlist.js';

export const RECORDING_STATUSES = ['recording', 'finalising', 'ready', 'failed'] as const;
export type RecordingStatus = (typeof RECORDING_STATUSES)[number];

/** The rungs a recording keeps (its writer's type). */
export type RecordingRendition = RecordedRendition;

export interface Recording {
  id: string;
  streamId: string | null;
  sessionId: string | null;
  status: RecordingStatus;
  startedAt: Date;
  endedAt: Date | null;
  durationSeconds: number | null;
  sizeBytes: number;
  renditions: RecordingRendition[];
  statusReason: string | null;
}

const COLUMNS = `id, stream_id AS "streamId", session_id AS "sessionId", status, started_at AS "startedAt",
  ended_at AS "endedAt", duration_seconds AS "durationSeconds", size_bytes::float8 AS "sizeBytes", renditions,
  status_reason AS "statusReason"`;

export interface RecordingPage {
  limit: number;
  after?: { startedAt: Date; id: string };
}

/** A page of one stream's or one session's recordings, newest first. */
export async function listRecordings(db: Db, o: { by: 'stream' | 'session'; id: string; page: RecordingPage }): Promise<Recording[]> {
  const column = o.by === 'stream' ? 'stream_id' : 'session_id';
  const { rows } = await db.query<Recording>(
    `SELECT ${COLUMNS} FROM recordings
      WHERE ${column} = $1 AND ($2::timestamptz IS NULL OR (started_at, id) < ($2, $3::uuid))
      ORDER BY started_at DESC, id DESC LIMIT $4`,
    [o.id, o.page.after?.startedAt ?? null, o.page.after?.id ?? null, o.page.limit],
  );
  return rows;
}

export async function getRecording(db: Db, id: string): Promise<Recording | null> {
  const { rows } = await db.query<Recording>(`SELECT ${COLUMNS} FROM recordings WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/**
 * Deletes the row unless it is still being written (recording, finalising); answers what the row was (null: no such row).
 * One statement, so a writer that moves it to `recording` meanwhile is never raced.
 */
export async function deleteRecordingRow(db: Db, id: string): Promise<{ deleted: boolean; status: RecordingStatus } | null> {
  const { rows } = await db.query<{ status: RecordingStatus; deleted: boolean }>(
    `WITH target AS (SELECT id, status FROM recordings WHERE id = $1),
          gone AS (DELETE FROM recordings r USING target WHERE r.id = target.id AND target.status NOT IN ('recording', 'finalising') RETURNING r.id)
     SELECT target.status, EXISTS (SELECT 1 FROM gone) AS deleted FROM target`,
    [id],
  );
  return rows[0] ?? null;
}

/** Recordings that ended (or, never ended, started) before the cutoff and are no longer written: the retention job's. */
export async function expiredRecordings(db: Db, o: { before: Date; limit: number }): Promise<{ id: string }[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM recordings WHERE status NOT IN ('recording', 'finalising') AND coalesce(ended_at, started_at) < $1 ORDER BY coalesce(ended_at, started_at) LIMIT $2`,
    [o.before, o.limit],
  );
  return rows;
}

/** Which of these ids have a row (the retention job's orphan check). */
export async function existingIds(db: Db, ids: string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM recordings WHERE id = ANY($1::uuid[])`, [ids]);
  return new Set(rows.map((r) => r.id));
}

/** Bytes the recordings of each stream hold (0 for a stream with none). */
export async function bytesByStream(db: Db, streamIds: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ stream_id: string; bytes: number }>(
    `SELECT stream_id, sum(size_bytes)::float8 AS bytes FROM recordings WHERE stream_id = ANY($1::uuid[]) GROUP BY stream_id`,
    [streamIds],
  );
  return new Map(streamIds.map((id) => [id, rows.find((r) => r.stream_id === id)?.bytes ?? 0]));
}

/** Every recording's bytes and count, by status (the /metrics gauges). */
export async function totalsByStatus(db: Db): Promise<{ status: RecordingStatus; bytes: number; count: number }[]> {
  const { rows } = await db.query<{ status: RecordingStatus; bytes: number; count: number }>(
    `SELECT status, sum(size_bytes)::float8 AS bytes, count(*)::int AS count FROM recordings GROUP BY status`,
  );
  return rows;
}
