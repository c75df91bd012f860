// HTTP for streams. The key leaves the server only in the answers to create and regenerate.
import { z } from 'zod';
import { PREVIEW_SESSION_ID, viewerPlaybackUrl, viewerThumbnailUrl } from '../analytics/playback.js';
import { rtmpIngestUrl, type Config } from '../config.js';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, idParams, isoDate, page, pageQuery, problems, toPage, timeIdCursor } from '../http/schemas.js';
import { freshThumbnails, showsThumbnail } from '../thumbnails.js';
import type { PublishSessionView, StreamSessionLink } from './repo.js';
import type { StreamsService } from './service.js';
import { STREAM_STATUSES as STATUSES, type Stream } from './types.js';


const createBody = z
  .object({
    title: z.string().trim().min(1, 'title is required').max(200, 'title is at most 200 characters'),
    profile: z.string().regex(/^[a-z0-9_-]{1,40}$/, 'profile must name a transcode profile').optional(),
    record: z.boolean({ message: 'record must be true or false' }).optional().describe('Whether its publishes are recorded; absent: RECORD_BY_DEFAULT.'),
    lowLatency: z
      .boolean({ message: 'lowLatency must be true or false' })
      .optional()
      .describe('Low-latency mode: LL-HLS parts with the full ladder (~1 s behind live in players that know LL-HLS; ordinary HLS with short segments for the others). Default false.'),
  })
  .strict();
// every field optional (one line per field here and in repo.StreamPatch)
const updateBody = z
  .object({
    title: createBody.shape.title.optional(),
    enabled: z.boolean({ message: 'enabled must be true or false' }).optional(),
    profile: createBody.shape.profile,
    record: z.boolean({ message: 'record must be true or false' }).optional().describe('Whether its next publishes are recorded.'),
    lowLatency: createBody.shape.lowLatency.describe('Low-latency mode for its next publishes.'),
  })
  .strict();
const deleteQuery = z
  .object({
    force: z
      .enum(['true', 'false'], { message: 'force must be true or false' })
      .transform((v) => v === 'true')
      .optional()
      .describe('true: a live stream is stopped (its publisher dropped) and its sessions unassigned, then it is deleted.'),
  })
  .strict();
const listQuery = z
  .object({
    status: z.enum(STATUSES, { message: `status must be one of ${STATUSES.join(', ')}` }).optional(),
    assigned: z
      .enum(['true', 'false'], { message: 'assigned must be true or false' })
      .transform((v) => v === 'true')
      .optional()
      .describe('true: only streams assigned to an event session; false: only unassigned ones.'),
    ...pageQuery,
  })
  .strict();
const pageOnly = z.object(pageQuery).strict();

export const streamSchema = z.object({
  id: z.uuid(),
  title: z.string(),
  playbackId: z.string(),
  playbackUrl: z.string(),
  thumbnailUrl: z
    .string()
    .nullable()
    .describe('A JPEG of the live picture, renewed every few seconds; personal like playbackUrl (your preview token). Null unless the stream is live and its picture is fresh.'),
  rtmpUrl: z.string(),
  profile: z.string(),
  enabled: z.boolean(),
  status: z.enum(STATUSES),
  statusReason: z.string().nullable(),
  renditions: z.array(z.object({ name: z.string(), width: z.number(), height: z.number(), bandwidth: z.number(), codecs: z.string(), frameRate: z.number(), passthrough: z.boolean() })),
  progress: z.object({ fps: z.number().nullable(), speed: z.number().nullable(), bitrateKbps: z.number().nullable(), outTimeSeconds: z.number().nullable(), updatedAt: z.string() }).nullable(),
  sessions: z
    .array(z.object({ id: z.uuid(), eventId: z.uuid(), title: z.string(), startsAt: isoDate, endsAt: isoDate }))
    .describe('The event sessions this stream is assigned to, by start time.'),
  createdAt: isoDate,
  updatedAt: isoDate,
  stoppedUntil: isoDate.nullable().describe('After a stop: publishes are refused until then; null when not stopped.'),
  recordingsBytes: z.number().int().describe('Disk space its recordings take (GET /api/streams/:id/recordings lists them).'),
  record: z.boolean().describe('Whether its publishes are recorded (its own setting, or RECORD_BY_DEFAULT when it has none).'),
  lowLatency: z.boolean().describe('Low-latency mode (LL-HLS with the ladder) for its next publishes.'),
});
const withKey = streamSchema.extend({ streamKey: z.string().describe('Shown only in this answer; store it in the encoder.') });

export const publishSessionSchema = z.object({
  id: z.uuid(),
  startedAt: isoDate,
  liveAt: isoDate.nullable(),
  endedAt: isoDate.nullable(),
  endReason: z.string().nullable(),
  source: z.object({
    videoCodec: z.string().nullable(), audioCodec: z.string().nullable(), width: z.number().nullable(), height: z.number().nullable(), fps: z.number().nullable(), videoBitrateKbps: z.number().nullable(),
    keyframeIntervalSeconds: z.number().nullable().describe('The publisher’s keyframe interval as the ingest measured it (low-latency publishes; null otherwise or when no second keyframe came within 2.5 s).'),
    bFrames: z.boolean().nullable().describe('Whether the publisher sends B-frames (low-latency publishes; null otherwise).'),
  }),
  lowLatency: z.boolean().describe('Whether this publish ran in low-latency mode.'),
  workerId: z.string().nullable(),
  transcodeStarts: z.number(),
  log: z.array(z.object({ at: z.string(), level: z.string(), message: z.string() })),
});

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
/** A publish session as answers carry it (times as ISO strings). */
export const publishSessionView = (p: PublishSessionView) => ({ ...p, startedAt: iso(p.startedAt)!, liveAt: iso(p.liveAt), endedAt: iso(p.endedAt) });

/** `extra.thumbnail`: whether the stream's live thumbnail is there and fresh (the caller looked: freshThumbnails). */
export function streamView(config: Config, s: Stream, me: { id: string }, extra: { sessions?: StreamSessionLink[]; recordingsBytes?: number; thumbnail?: boolean } = {}) {
  const sessions = extra.sessions ?? [];
  // staff preview: a token of their own, never counted as a viewer (src/analytics/playback.ts)
  const preview = { playbackId: s.playbackId, sessionId: PREVIEW_SESSION_ID, userId: me.id };
  return {
    id: s.id,
    title: s.title,
    playbackId: s.playbackId,
    playbackUrl: viewerPlaybackUrl(config, preview),
    thumbnailUrl: showsThumbnail(s.status) && extra.thumbnail ? viewerThumbnailUrl(config, preview) : null,
    rtmpUrl: rtmpIngestUrl(config),
    profile: s.profile,
    enabled: s.enabled,
    status: s.status,
    statusReason: s.statusReason,
    renditions: s.renditions,
    progress: s.progress,
    sessions: sessions.map((l) => ({ id: l.id, eventId: l.eventId, title: l.title, startsAt: l.startsAt.toISOString(), endsAt: l.endsAt.toISOString() })),
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    stoppedUntil: s.stoppedUntil ? s.stoppedUntil.toISOString() : null,
    recordingsBytes: extra.recordingsBytes ?? 0,
    record: s.record ?? config.recordings.byDefault,
    lowLatency: s.lowLatency,
  };
}


export function streamEndpoints(deps: { streams: StreamsService; config: Config; recordingsBytes: (streamIds: string[]) => Promise<Map<string, number>> }): Endpoint[] {
  const view = (s: Stream, me: { id: string }) => streamView(deps.config, s, me);
  /**
   * Views with their sessions and their recordings' bytes, each fetched in one query for all of
   * them, and whether the live ones have a fresh thumbnail (one stat each).
   */
  const views = async (streams: Stream[], me: { id: string }) => {
    const ids = streams.map((s) => s.id);
    const live = streams.filter((s) => showsThumbnail(s.status)).map((s) => s.playbackId);
    const [links, bytes, thumbs] = await Promise.all([deps.streams.sessionsOf(ids), deps.recordingsBytes(ids), freshThumbnails(deps.config.mediaDir, live)]);
    return streams.map((s) => streamView(deps.config, s, me, { sessions: links.get(s.id), recordingsBytes: bytes.get(s.id), thumbnail: thumbs.has(s.playbackId) }));
  };
  return [
    endpoint({
      method: 'post', path: '/streams', action: 'streams.create', tag: 'streams',
      summary: 'Create a stream; the answer carries its key, shown only here',
      body: createBody,
      answers: { 201: { description: 'Created.', schema: withKey }, ...problems(400, 401, 403, 413, 415) },
      async handle({ body, me, res }) {
        const { stream, streamKey } = await deps.streams.create({ title: body.title, profile: body.profile, record: body.record, lowLatency: body.lowLatency, createdBy: me.id });
        res.status(201).json({ ...view(stream, me), streamKey });
      },
    }),
    endpoint({
      method: 'get', path: '/streams', action: 'streams.list', tag: 'streams',
      summary: 'List streams, newest first, optionally by status and by whether a session uses them',
      query: listQuery,
      answers: { 200: { description: 'A page of streams.', schema: page(streamSchema) }, ...problems(400, 401, 403) },
      async handle({ query, me, res }) {
        const after = decodeCursor(query.cursor, timeIdCursor);
        const rows = await deps.streams.list({ status: query.status, assigned: query.assigned, limit: query.limit + 1, after: after && { createdAt: after[0], id: after[1] } });
        const { items, nextCursor } = toPage(rows, query.limit, (s) => s, (s) => [s.createdAt, s.id]);
        res.json({ items: await views(items, me), nextCursor });
      },
    }),
    endpoint({
      method: 'get', path: '/streams/:id', action: 'streams.get', tag: 'streams',
      summary: 'One stream',
      params: idParams,
      answers: { 200: { description: 'The stream.', schema: streamSchema }, ...problems(400, 401, 403, 404) },
      async handle({ params, me, res }) {
        res.json((await views([await deps.streams.get(params.id)], me))[0]);
      },
    }),
    endpoint({
      method: 'get', path: '/streams/:id/sessions', action: 'streams.publishSessions', tag: 'streams',
      summary: "The stream's publish sessions (each RTMP publish), newest first, with what the broadcaster was told",
      params: idParams,
      query: pageOnly,
      answers: { 200: { description: 'A page of publish sessions.', schema: page(publishSessionSchema) }, ...problems(400, 401, 403, 404) },
      async handle({ params, query, res }) {
        const after = decodeCursor(query.cursor, timeIdCursor);
        const rows = await deps.streams.publishSessions(params.id, { limit: query.limit + 1, after: after && { startedAt: after[0], id: after[1] } });
        res.json(toPage(rows, query.limit, publishSessionView, (p) => [p.startedAt, p.id]));
      },
    }),
    endpoint({
      method: 'post', path: '/streams/:id/regenerate-key', action: 'streams.regenerateKey', tag: 'streams',
      summary: 'Replace the stream key; a publisher using the old key is disconnected',
      params: idParams,
      answers: { 200: { description: 'The stream with its new key, shown only here.', schema: withKey }, ...problems(400, 401, 403, 404) },
      async handle({ params, me, res }) {
        const { stream, streamKey } = await deps.streams.regenerateKey(params.id);
        res.json({ ...(await views([stream], me))[0], streamKey });
      },
    }),
    endpoint({
      method: 'patch', path: '/streams/:id', action: 'streams.update', tag: 'streams',
      summary: 'Change a stream’s title, profile, enabled flag, whether it is recorded, or its low-latency mode',
      description:
        'Disabling a stream on air drops its publisher and refuses its publishes until it is enabled again. ' +
        'A new profile, `record` or `lowLatency` applies to the next publish (409 `unknown_profile` when there is no such profile). The key is never in this answer.',
      params: idParams,
      body: updateBody,
      answers: { 200: { description: 'The updated stream.', schema: streamSchema }, ...problems(400, 401, 403, 404, 409, 413, 415) },
      async handle({ params, body, me, res }) {
        res.json((await views([await deps.streams.update(params.id, body)], me))[0]);
      },
    }),
    endpoint({
      method: 'post', path: '/streams/:id/stop', action: 'streams.stop', tag: 'streams',
      summary: 'Stop a stream: drop its publisher now and refuse its publishes for STOP_COOLOFF_SECONDS',
      params: idParams,
      answers: { 202: { description: 'Stopping; `stoppedUntil` says until when publishes are refused.', schema: streamSchema }, ...problems(400, 401, 403, 404) },
      async handle({ params, me, res }) {
        res.status(202).json((await views([await deps.streams.stop(params.id)], me))[0]);
      },
    }),
    endpoint({
      method: 'delete', path: '/streams/:id', action: 'streams.delete', tag: 'streams',
      summary: 'Delete a stream with its publish history',
      description: '409 `stream_live` while it is on air and `stream_assigned` while an event session uses it, unless `?force=true`.',
      params: idParams,
      query: deleteQuery,
      answers: { 204: { description: 'Deleted.' }, ...problems(400, 401, 403, 404, 409) },
      async handle({ params, query, res }) {
        await deps.streams.remove(params.id, { force: query.force ?? false });
        res.status(204).end();
      },
    }),
  ];
}
