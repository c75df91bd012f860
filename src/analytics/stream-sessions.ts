// What the broadcast of one event session looked like from the stream's side: the publishes of
// its stream around the session's time (30 minutes either side, for early tests and overruns),
// what the publisher sent, how the transcoder kept up and what viewers fetched per rendition.
import { z } from 'zod';
import type { Db } from '../db/pool.js';
import { isoDate } from '../http/schemas.js';

/** Publishes this long before the session starts or after it ends still belong to it. */
export const SESSION_MARGIN_MINUTES = 30;
/** A publish starting this soon after the previous one ended is the same broadcaster reconnecting. */
export const RECONNECT_SECONDS = 60;

export const streamSessionStatsSchema = z.object({
  id: z.uuid(),
  startedAt: isoDate,
  endedAt: isoDate.nullable().describe('null while the publish is live.'),
  durationSeconds: z.number().int().describe('Until the end, or until now while live.'),
  endReason: z.string().nullable(),
  source: z.object({
    videoCodec: z.string().nullable(),
    audioCodec: z.string().nullable(),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
    fps: z.number().nullable(),
    videoBitrateKbps: z.number().int().nullable(),
    audioBitrateKbps: z.number().int().nullable(),
  }),
  transcoder: z.object({
    speedMin: z.number().nullable().describe('Slowest transcoding speed reported (1 = real time).'),
    speedAvg: z.number().nullable(),
    fpsMin: z.number().nullable(),
    restarts: z.number().int().describe('Times ffmpeg was started again during the publish (not counting the starts after a reconnect).'),
  }),
  renditionsServed: z
    .array(z.object({ rendition: z.string(), segments: z.number().int(), bytes: z.number().int() }))
    .describe('HLS requests served per rendition while the publish lasted (all sessions using the stream).'),
  reconnect: z.boolean().describe(`Started within ${RECONNECT_SECONDS} s after the stream's previous publish ended.`),
  reconnects: z.number().int().describe('Times the publisher dropped and came back within the reconnect grace, continuing this publish.'),
});

export type StreamSessionStats = z.output<typeof streamSessionStatsSchema>;

interface StatsRow {
  id: string;
  started_at: Date;
  ended_at: Date | null;
  duration_seconds: number;
  end_reason: string | null;
  video_codec: string | null;
  audio_codec: string | null;
  width: number | null;
  height: number | null;
  fps: string | null; // numeric
  video_bitrate_kbps: number | null;
  audio_bitrate_kbps: number | null;
  speed_min: string | null;
  speed_avg: string | null;
  fps_min: string | null;
  restarts: number;
  reconnects: number;
  renditions: { rendition: string; segments: number; bytes: number }[];
  reconnect: boolean;
}

// $1 event session, $2 margin (minutes), $3 reconnect window (seconds).
const STATS_SQL = `
WITH es AS (
  SELECT stream_id, starts_at, ends_at FROM event_sessions WHERE id = $1 AND stream_id IS NOT NULL
)
SELECT p.id, p.started_at, p.ended_at,
       round(extract(epoch FROM COALESCE(p.ended_at, now()) - p.started_at))::int AS duration_seconds,
       p.end_reason, p.video_codec, p.audio_codec, p.width, p.height, p.fps,
       p.video_bitrate_kbps, p.audio_bitrate_kbps, p.speed_min, p.speed_avg, p.fps_min,
       -- every connection after the first started ffmpeg once more: those starts are reconnects
       GREATEST(p.transcode_starts - p.connection, 0) AS restarts, p.connection - 1 AS reconnects,
       r.renditions,
       COALESCE(p.started_at <= prev.ended_at + make_interval(secs => $3), false) AS reconnect
FROM es
JOIN publish_sessions p ON p.stream_id = es.stream_id
  AND p.started_at < es.ends_at + make_interval(mins => $2)
  AND COALESCE(p.ended_at, now()) > es.starts_at - make_interval(mins => $2)
LEFT JOIN LATERAL (
  SELECT ended_at FROM publish_sessions prev
  WHERE prev.stream_id = p.stream_id AND (prev.started_at, prev.id) < (p.started_at, p.id)
  ORDER BY prev.started_at DESC, prev.id DESC LIMIT 1
) prev ON true
CROSS JOIN LATERAL (
  SELECT COALESCE(json_agg(json_build_object('rendition', rendition, 'segments', segments, 'bytes', bytes)
                           ORDER BY rendition), '[]') AS renditions
  FROM (
    SELECT rm.rendition, sum(rm.segments) AS segments, sum(rm.bytes) AS bytes
    FROM rendition_minutes rm
    WHERE rm.session_id IN (SELECT id FROM event_sessions WHERE stream_id = p.stream_id)
      AND rm.minute >= date_trunc('minute', p.started_at) AND rm.minute <= COALESCE(p.ended_at, now())
    GROUP BY rm.rendition
  ) per_rendition
) r
ORDER BY p.started_at, p.id`;

const num = (v: string | null): number | null => (v === null ? null : Number(v));

/** The publishes of the session's stream around its time, oldest first ([] without a stream). */
export async function streamSessionStats(db: Db, sessionId: string): Promise<StreamSessionStats[]> {
  const { rows } = await db.query<StatsRow>(STATS_SQL, [sessionId, SESSION_MARGIN_MINUTES, RECONNECT_SECONDS]);
  return rows.map((r) => ({
    id: r.id,
    startedAt: r.started_at.toISOString(),
    endedAt: r.ended_at ? r.ended_at.toISOString() : null,
    durationSeconds: r.duration_seconds,
    endReason: r.end_reason,
    source: {
      videoCodec: r.video_codec,
      audioCodec: r.audio_codec,
      width: r.width,
      height: r.height,
      fps: num(r.fps),
      videoBitrateKbps: r.video_bitrate_kbps,
      audioBitrateKbps: r.audio_bitrate_kbps,
    },
    transcoder: { speedMin: num(r.speed_min), speedAvg: num(r.speed_avg), fpsMin: num(r.fps_min), restarts: r.restarts },
    renditionsServed: r.renditions.map((x) => ({ rendition: x.rendition, segments: Number(x.segments), bytes: Number(x.bytes) })),
    reconnect: r.reconnect,
    reconnects: r.reconnects,
  }));
}
