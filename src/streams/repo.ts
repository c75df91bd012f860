// Raw SQL for streams and publish sessions: one function per statement, db first.
import type { Db } from '../db/pool.js';
import type { Rendition, SourceInfo, Stream, StreamStatus, TranscodeProgress } from './types.js';

/** A publisher not seen by its ingest for this long no longer holds its stream. */
export const PUBLISHER_STALE_SECONDS = 15;

// stopped_until only while it lies ahead (the database's clock decides, for every process alike)
const STREAM_COLUMNS = `id, title, playback_id, profile, enabled, status, status_reason,
  current_publish_session_id, renditions, progress, created_at, updated_at, record, low_latency,
  CASE WHEN stopped_until > now() THEN stopped_until END AS stopped_until`;

interface StreamRow {
  id: string;
  title: string;
  playback_id: string;
  profile: string;
  enabled: boolean;
  status: StreamStatus;
  status_reason: string | null;
  current_publish_session_id: string | null;
  renditions: Rendition[];
  progress: TranscodeProgress | null;
  created_at: Date;
  updated_at: Date;
  stopped_until: Date | null;
  record: boolean | null;
  low_latency: boolean;
}

function toStream(r: StreamRow): Stream {
  return {
    id: r.id,
    title: r.title,
    playbackId: r.playback_id,
    profile: r.profile,
    enabled: r.enabled,
    status: r.status,
    statusReason: r.status_reason,
    currentPublishSessionId: r.current_publish_session_id,
    renditions: r.renditions,
    progress: r.progress,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    stoppedUntil: r.stopped_until,
    record: r.record,
    lowLatency: r.low_latency,
  };
}

export async function insertStream(
  db: Db,
  s: { title: string; keyDigest: Buffer; playbackId: string; profile: string; createdBy: string | null; record?: boolean | null; lowLatency?: boolean },
): Promise<Stream> {
  const { rows } = await db.query<StreamRow>(
    `INSERT INTO streams (title, key_digest, playback_id, profile, created_by, record, low_latency)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${STREAM_COLUMNS}`,
    [s.title, s.keyDigest, s.playbackId, s.profile, s.createdBy, s.record ?? null, s.lowLatency ?? false],
  );
  return toStream(rows[0]!);
}

export async function findStream(db: Db, id: string): Promise<Stream | null> {
  const { rows } = await db.query<StreamRow>(`SELECT ${STREAM_COLUMNS} FROM streams WHERE id = $1`, [id]);
  return rows[0] ? toStream(rows[0]) : null;
}

export async function findStreamByDigest(db: Db, digest: Buffer): Promise<Stream | null> {
  const { rows } = await db.query<StreamRow>(`SELECT ${STREAM_COLUMNS} FROM streams WHERE key_digest = $1`, [digest]);
  return rows[0] ? toStream(rows[0]) : null;
}

/** Newest first; `after` is the (createdAt, id) of the last item of the previous page (ms precision, as JSON carries it). */
export async function listStreams(
  db: Db,
  opts: { status?: StreamStatus; assigned?: boolean; limit: number; after?: { createdAt: Date; id: string } },
): Promise<Stream[]> {
  const { rows } = await db.query<StreamRow>(
    `SELECT ${STREAM_COLUMNS} FROM streams
     WHERE ($1::text IS NULL OR status = $1)
       AND ($5::boolean IS NULL OR EXISTS (SELECT 1 FROM event_sessions es WHERE es.stream_id = streams.id) = $5)
       AND ($3::timestamptz IS NULL OR (date_trunc('milliseconds', created_at), id) < ($3, $4::uuid))
     ORDER BY date_trunc('milliseconds', created_at) DESC, id DESC LIMIT $2`,
    [opts.status ?? null, opts.limit, opts.after?.createdAt ?? null, opts.after?.id ?? null, opts.assigned ?? null],
  );
  return rows.map(toStream);
}

export interface StreamSessionLink {
  streamId: string;
  id: string;
  eventId: string;
  title: string;
  startsAt: Date;
  endsAt: Date;
}

/** The event sessions these streams are assigned to, by start time (one query for a whole page). */
export async function sessionsOfStreams(db: Db, streamIds: string[]): Promise<StreamSessionLink[]> {
  if (streamIds.length === 0) return [];
  const { rows } = await db.query<{ stream_id: string; id: string; event_id: string; title: string; starts_at: Date; ends_at: Date }>(
    `SELECT stream_id, id, event_id, title, starts_at, ends_at FROM event_sessions
     WHERE stream_id = ANY($1::uuid[]) ORDER BY starts_at, id`,
    [streamIds],
  );
  return rows.map((r) => ({ streamId: r.stream_id, id: r.id, eventId: r.event_id, title: r.title, startsAt: r.starts_at, endsAt: r.ends_at }));
}

export async function updateKeyDigest(db: Db, id: string, digest: Buffer): Promise<Stream | null> {
  const { rows } = await db.query<StreamRow>(
    `UPDATE streams SET key_digest = $2, updated_at = now() WHERE id = $1 RETURNING ${STREAM_COLUMNS}`,
    [id, digest],
  );
  return rows[0] ? toStream(rows[0]) : null;
}

/** What an admin may change on a stream; an absent field stays as it is (one line per field). */
export interface StreamPatch {
  title?: string;
  enabled?: boolean;
  profile?: string;
  /** Whether its publishes are recorded (src/recordings/); the next publish follows a change. */
  record?: boolean;
  /** Low-latency mode (LL-HLS); the next publish follows a change. */
  lowLatency?: boolean;
}

export async function updateStream(db: Db, id: string, patch: StreamPatch): Promise<Stream | null> {
  const { rows } = await db.query<StreamRow>(
    `UPDATE streams SET title = COALESCE($2, title), enabled = COALESCE($3, enabled), profile = COALESCE($4, profile),
       record = COALESCE($5, record), low_latency = COALESCE($6, low_latency), updated_at = now() WHERE id = $1 RETURNING ${STREAM_COLUMNS}`,
    [id, patch.title ?? null, patch.enabled ?? null, patch.profile ?? null, patch.record ?? null, patch.lowLatency ?? null],
  );
  return rows[0] ? toStream(rows[0]) : null;
}

/** Marks the mode a publish runs in (set as its transcode is queued). */
export async function markLowLatency(db: Db, publishSessionId: string): Promise<void> {
  await db.query(`UPDATE publish_sessions SET low_latency = true WHERE id = $1`, [publishSessionId]);
}

/** The mode a publish runs in (a continued publish keeps it). */
export async function publishLowLatency(db: Db, publishSessionId: string): Promise<boolean> {
  const { rows } = await db.query<{ low_latency: boolean }>(`SELECT low_latency FROM publish_sessions WHERE id = $1`, [publishSessionId]);
  return rows[0]?.low_latency ?? false;
}

/** The stream's own `record` setting (null: the configured default, or no such stream). */
export async function streamRecordSetting(db: Db, id: string): Promise<boolean | null> {
  const { rows } = await db.query<{ record: boolean | null }>(`SELECT record FROM streams WHERE id = $1`, [id]);
  return rows[0]?.record ?? null;
}

/** Refuses the stream's publishes for the next `seconds` (an operator's stop). */
export async function stopStream(db: Db, s: { id: string; seconds: number }): Promise<Stream | null> {
  const { rows } = await db.query<StreamRow>(
    `UPDATE streams SET stopped_until = now() + make_interval(secs => $2), updated_at = now()
     WHERE id = $1 RETURNING ${STREAM_COLUMNS}`,
    [s.id, s.seconds],
  );
  return rows[0] ? toStream(rows[0]) : null;
}

/**
 * Deletes the stream unless it is on air (starting/live) or assigned to an event session, in one
 * statement (no race with a publish or an assignment); with `force` whatever its state (its
 * sessions lose it: ON DELETE SET NULL). Its publish sessions and their logs go with it.
 */
export async function deleteStream(db: Db, d: { id: string; force: boolean }): Promise<boolean> {
  const { rowCount } = await db.query(
    `DELETE FROM streams WHERE id = $1
       AND ($2 OR (status NOT IN ('starting', 'live', 'reconnecting') AND NOT EXISTS (SELECT 1 FROM event_sessions WHERE stream_id = $1)))`,
    [d.id, d.force],
  );
  return (rowCount ?? 0) > 0;
}

/** Ends a publish session whose ingest stopped touching it (crashed ingest, lost network). */
export async function endStalePublishSession(db: Db, streamId: string): Promise<void> {
  await db.query(
    `UPDATE publish_sessions SET ended_at = now(), end_reason = 'ingest_lost'
     WHERE stream_id = $1 AND ended_at IS NULL
       AND last_seen_at < now() - make_interval(secs => $2)`,
    [streamId, PUBLISHER_STALE_SECONDS],
  );
}

/**
 * Claims the stream for a new publish session. A partial unique index (one open session per
 * stream) makes sure two publishers, even on two ingest hosts, cannot both win. Returns the new session id, or null when the
 * stream already has a live publisher.
 */
export async function claimStream(
  db: Db,
  c: { streamId: string; ingestId: string; remoteAddress: string | null },
): Promise<string | null> {
  try {
    const { rows } = await db.query<{ id: string }>(
      `WITH session AS (
         INSERT INTO publish_sessions (stream_id, ingest_id, remote_address)
         SELECT id, $2, $3 FROM streams WHERE id = $1 AND enabled RETURNING id, stream_id
       )
       UPDATE streams s SET current_publish_session_id = session.id, status = 'starting',
         status_reason = NULL, renditions = '[]', progress = NULL, updated_at = now()
       FROM session WHERE s.id = session.stream_id
       RETURNING session.id`,
      [c.streamId, c.ingestId, c.remoteAddress],
    );
    return rows[0]?.id ?? null;
  } catch (err) {
    // publish_sessions_one_open_per_stream: another publisher holds the stream
    if ((err as { code?: string }).code === '23505') return null;
    throw err;
  }
}

export async function recordSource(db: Db, publishSessionId: string, s: SourceInfo): Promise<void> {
  await db.query(
    `UPDATE publish_sessions SET video_codec = $2, audio_codec = $3, width = $4, height = $5, fps = $6,
       video_bitrate_kbps = $7, audio_bitrate_kbps = $8, keyframe_interval_seconds = $9, b_frames = $10 WHERE id = $1`,
    [publishSessionId, s.videoCodec, s.audioCodec, s.width, s.height, s.fps, s.videoBitrateKbps, s.audioBitrateKbps, s.keyframeIntervalSeconds ?? null, s.bFrames ?? null],
  );
}

/** Ends a publish session (idempotent) and takes its stream offline if it is still the current one. */
export async function endPublishSession(
  db: Db,
  e: { publishSessionId: string; reason: string; status?: StreamStatus; statusReason?: string | null; connection?: number },
): Promise<boolean> {
  // with `connection`: only while that connection still holds the publish (a newer one continues it otherwise)
  const { rowCount } = await db.query(
    `WITH ended AS (
       UPDATE publish_sessions SET ended_at = now(), end_reason = $2, reconnect_deadline = NULL
       WHERE id = $1 AND ended_at IS NULL AND ($5::int IS NULL OR connection = $5) RETURNING id, stream_id
     )
     UPDATE streams s SET status = $3, status_reason = $4, updated_at = now()
     FROM ended WHERE s.id = ended.stream_id AND s.current_publish_session_id = ended.id`,
    [e.publishSessionId, e.reason, e.status ?? 'offline', e.statusReason ?? null, e.connection ?? null],
  );
  return (rowCount ?? 0) > 0;
}

/** Why the ingest must drop a publisher it still holds. */
export type DropReason = 'key_revoked' | 'stopped' | 'publish_ended';

/**
 * Heartbeat from the ingest for its publishers, and the answer which of them must go: those
 * whose stream key was regenerated (or stream disabled, or stopped) since they were let in, and those whose
 * publish session is closed (a worker or another ingest ended it): a publisher pushing into a
 * closed session reaches no viewer, and dropped, its encoder reconnects and the stream comes
 * back. This re-check backs up the pub/sub message, which Redis may drop.
 */
export async function touchPublishSessions(db: Db, entries: { id: string; keyDigest: Buffer; connection: number }[]): Promise<{ id: string; reason: DropReason }[]> {
  if (entries.length === 0) {
    await db.query('SELECT 1'); // nothing to touch; the caller still learns whether the database answers
    return [];
  }
  // a connection a newer one has superseded (a reconnect or takeover continued its publish) is not
  // touched and is told to go, like one whose publish ended
  const { rows } = await db.query<{ id: string; reason: DropReason }>(
    `WITH touched AS (
       UPDATE publish_sessions p SET last_seen_at = now()
       FROM unnest($1::uuid[], $3::int[]) AS c(id, connection)
       WHERE p.id = c.id AND p.connection = c.connection AND p.ended_at IS NULL RETURNING p.id, p.stream_id
     )
     SELECT k.id, CASE WHEN touched.id IS NULL THEN 'publish_ended' WHEN s.stopped_until > now() THEN 'stopped' ELSE 'key_revoked' END AS reason
     FROM unnest($1::uuid[], $2::bytea[]) AS k(id, digest)
     LEFT JOIN touched ON touched.id = k.id
     LEFT JOIN streams s ON s.id = touched.stream_id
     WHERE touched.id IS NULL OR s.key_digest <> k.digest OR NOT s.enabled OR s.stopped_until > now()`,
    [entries.map((e) => e.id), entries.map((e) => e.keyDigest), entries.map((e) => e.connection)],
  );
  return rows;
}

/**
 * What a worker watching a publish needs: closed or not, the touch value, and whether that is
 * within PUBLISHER_STALE_SECONDS of the database's own now() (one clock). Null when there is no
 * such session.
 */
export async function publishSessionState(db: Db, publishSessionId: string): Promise<PublishState | null> {
  const { rows } = await db.query<{ ended: boolean; last_seen_at: Date; fresh: boolean; connection: number; left_ms: number | null }>(
    `SELECT ended_at IS NOT NULL AS ended, last_seen_at,
            last_seen_at > now() - make_interval(secs => $2) AS fresh, connection,
            (extract(epoch FROM reconnect_deadline - now()) * 1000)::float8 AS left_ms
     FROM publish_sessions WHERE id = $1`,
    [publishSessionId, PUBLISHER_STALE_SECONDS],
  );
  const r = rows[0];
  return r ? { ended: r.ended, lastSeenAt: r.last_seen_at.getTime(), fresh: r.fresh, connection: r.connection, reconnectLeftMs: r.left_ms } : null;
}

/** A publish as a worker watches it. */
export interface PublishState {
  ended: boolean;
  lastSeenAt: number;
  fresh: boolean;
  /** The connection holding the publish now (1, then one more per reconnect or takeover). */
  connection: number;
  /** While the publisher is away: ms left of its reconnect grace (database clock; ≤ 0 once it ran out); null while connected. */
  reconnectLeftMs: number | null;
}

/** Records that a worker starts ffmpeg for the session; returns how many starts came before. */
export async function recordTranscodeStart(db: Db, publishSessionId: string, workerId: string): Promise<number> {
  const { rows } = await db.query<{ previous: number }>(
    `UPDATE publish_sessions SET worker_id = $2, transcode_starts = transcode_starts + 1
     WHERE id = $1 RETURNING transcode_starts - 1 AS previous`,
    [publishSessionId, workerId],
  );
  return rows[0]?.previous ?? 0;
}

/** starting | reconnecting → live (or new renditions): true when that changed something (a restart of an already live stream changes nothing). */
export async function markLive(db: Db, publishSessionId: string, renditions: Rendition[]): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH s AS (UPDATE publish_sessions SET live_at = COALESCE(live_at, now())
                WHERE id = $1 AND ended_at IS NULL AND reconnect_deadline IS NULL RETURNING stream_id)
     UPDATE streams SET status = 'live', renditions = $2, updated_at = now()
     FROM s WHERE streams.id = s.stream_id AND streams.current_publish_session_id = $1
       AND (streams.status <> 'live' OR streams.renditions <> $2::jsonb)`,
    [publishSessionId, JSON.stringify(renditions)],
  );
  return (rowCount ?? 0) > 0;
}

/** Transcoding gave up on the publish: its stream is `failed` with the reason (if the publish is still the stream's current one). */
export async function markFailed(db: Db, publishSessionId: string, reason: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE streams SET status = 'failed', status_reason = $2, updated_at = now() WHERE current_publish_session_id = $1`,
    [publishSessionId, reason.slice(0, 1000)],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * The speed is kept once ffmpeg has written SPEED_AFTER_SECONDS of output: at the start it races
 * through what the pull had buffered (speed=170x and the like), which says nothing about keeping up.
 */
const SPEED_AFTER_SECONDS = 10;
const settled = (p: TranscodeProgress) => p.outTimeSeconds !== null && p.outTimeSeconds >= SPEED_AFTER_SECONDS;

/** A measured speed or fps; ffmpeg's first report says speed=N/A and fps=0.00 (nothing encoded yet). */
const measured = (v: number | null): number | null => (v !== null && Number.isFinite(v) && v > 0 && v < 10_000 ? v : null);

/**
 * Shows the progress on the stream and keeps the publish session's transcoder figures: samples,
 * slowest speed, mean speed, lowest fps. LEAST ignores NULL, so the first measured value sets the
 * minimum and a sample without a value leaves it. speed_avg is the running mean over the samples
 * that had a speed (speed_samples).
 */
export async function recordProgress(db: Db, publishSessionId: string, progress: TranscodeProgress): Promise<void> {
  await db.query(
    `WITH stream AS (UPDATE streams SET progress = $2 WHERE current_publish_session_id = $1)
     UPDATE publish_sessions SET
       progress_samples = progress_samples + 1,
       speed_samples = speed_samples + CASE WHEN $3::numeric IS NULL THEN 0 ELSE 1 END,
       speed_min = LEAST(speed_min, $3::numeric),
       speed_avg = CASE WHEN $3::numeric IS NULL THEN speed_avg
                        ELSE COALESCE(speed_avg + ($3::numeric - speed_avg) / (speed_samples + 1), $3::numeric) END,
       fps_min = LEAST(fps_min, $4::numeric)
     WHERE id = $1`,
    [publishSessionId, JSON.stringify(progress), settled(progress) ? measured(progress.speed) : null, measured(progress.fps)],
  );
}

export async function appendSessionLog(
  db: Db,
  l: { publishSessionId: string; level: 'info' | 'warn' | 'error'; message: string },
): Promise<void> {
  await db.query(`INSERT INTO publish_session_log (publish_session_id, level, message) VALUES ($1, $2, $3)`, [
    l.publishSessionId,
    l.level,
    l.message.slice(0, 2000),
  ]);
}

export interface PublishSessionView {
  id: string;
  startedAt: Date;
  liveAt: Date | null;
  endedAt: Date | null;
  endReason: string | null;
  source: {
    videoCodec: string | null; audioCodec: string | null; width: number | null; height: number | null; fps: number | null; videoBitrateKbps: number | null;
    keyframeIntervalSeconds: number | null; bFrames: boolean | null;
  };
  lowLatency: boolean;
  workerId: string | null;
  transcodeStarts: number;
  log: { at: Date; level: string; message: string }[];
}

/** Newest first; `after` is the (startedAt, id) of the last item of the previous page. */
export async function listPublishSessions(
  db: Db,
  streamId: string,
  opts: { limit: number; after?: { startedAt: Date; id: string } },
): Promise<PublishSessionView[]> {
  const { rows } = await db.query(
    `SELECT p.id, p.started_at, p.live_at, p.ended_at, p.end_reason, p.video_codec, p.audio_codec, p.width,
            p.height, p.fps, p.video_bitrate_kbps, p.keyframe_interval_seconds, p.b_frames, p.low_latency, p.worker_id, p.transcode_starts,
            COALESCE((SELECT json_agg(json_build_object('at', l.at, 'level', l.level, 'message', l.message) ORDER BY l.id)
                      FROM publish_session_log l WHERE l.publish_session_id = p.id), '[]') AS log
     FROM publish_sessions p
     WHERE p.stream_id = $1
       AND ($3::timestamptz IS NULL OR (date_trunc('milliseconds', p.started_at), p.id) < ($3, $4::uuid))
     ORDER BY date_trunc('milliseconds', p.started_at) DESC, p.id DESC LIMIT $2`,
    [streamId, opts.limit, opts.after?.startedAt ?? null, opts.after?.id ?? null],
  );
  return rows.map((r) => ({
    id: r.id,
    startedAt: r.started_at,
    liveAt: r.live_at,
    endedAt: r.ended_at,
    endReason: r.end_reason,
    source: {
      videoCodec: r.video_codec,
      audioCodec: r.audio_codec,
      width: r.width,
      height: r.height,
      fps: r.fps === null ? null : Number(r.fps),
      videoBitrateKbps: r.video_bitrate_kbps,
      keyframeIntervalSeconds: r.keyframe_interval_seconds === null ? null : Math.round(Number(r.keyframe_interval_seconds) * 1000) / 1000,
      bFrames: r.b_frames,
    },
    lowLatency: r.low_latency,
    workerId: r.worker_id,
    transcodeStarts: r.transcode_starts,
    log: r.log,
  }));
}

/** True while this publish session is the stream's latest (no newer publish has started). */
export async function isCurrentPublishSession(db: Db, streamId: string, publishSessionId: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM streams WHERE id = $1 AND current_publish_session_id = $2`, [streamId, publishSessionId]);
  return rows.length > 0;
}

/**
 * Streams that say a broadcast is on (`starting`/`live`) while their publish has not been touched
 * for `quietSeconds` (or has ended): the candidates for a broken live. A publish its ingest
 * touches on time is left out, so healthy streams cost the sweep nothing.
 */
export async function quietBroadcasts(db: Db, quietSeconds: number): Promise<{ streamId: string; publishSessionId: string; playbackId: string }[]> {
  const { rows } = await db.query<{ id: string; current_publish_session_id: string; playback_id: string }>(
    `SELECT s.id, s.current_publish_session_id, s.playback_id FROM streams s
     JOIN publish_sessions p ON p.id = s.current_publish_session_id
     WHERE s.status IN ('starting', 'live', 'reconnecting') AND p.reconnect_deadline IS NULL
       AND (p.ended_at IS NOT NULL OR p.last_seen_at < now() - make_interval(secs => $1))`,
    [quietSeconds],
  );
  return rows.map((r) => ({ streamId: r.id, publishSessionId: r.current_publish_session_id, playbackId: r.playback_id }));
}

export interface BroadcastStatus {
  status: StreamStatus;
  renditions: Rendition[];
  reason: string | null;
  /** When the stream's current (latest) publish began, null if it never had one: the moment that says which session the broadcast belongs to. */
  startedAt: Date | null;
  /** Whether that publish is still on. */
  publishing: boolean;
}

/** A stream's status as viewers are told it; null for an unknown stream. */
export async function broadcastStatus(db: Db, streamId: string): Promise<BroadcastStatus | null> {
  const { rows } = await db.query<{ status: StreamStatus; renditions: Rendition[]; status_reason: string | null; started_at: Date | null; publishing: boolean | null }>(
    `SELECT s.status, s.renditions, s.status_reason, p.started_at, p.ended_at IS NULL AS publishing
     FROM streams s LEFT JOIN publish_sessions p ON p.id = s.current_publish_session_id
     WHERE s.id = $1`,
    [streamId],
  );
  const r = rows[0];
  return r ? { status: r.status, renditions: r.renditions, reason: r.status_reason, startedAt: r.started_at, publishing: r.publishing === true } : null;
}
