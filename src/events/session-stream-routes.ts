// A session's broadcast for the people who make it: its speakers (who never see stream ids or the
// stream list) and organisers get the stream's state, the publish log of its latest publish and
// where to send it; a speaker may replace the key (shown once, in that answer only). The stream
// key is never part of any other answer.
import { z } from 'zod';
import { assertMay } from '../access.js';
import { viewerThumbnailUrl } from '../analytics/playback.js';
import { rtmpIngestUrl, type Config } from '../config.js';
import { notFound } from '../errors.js';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { idParams, problems } from '../http/schemas.js';
import type { Principal } from '../principal.js';
import { publishSessionSchema, publishSessionView, streamSchema } from '../streams/routes.js';
import type { StreamsService } from '../streams/service.js';
import { freshThumbnails, showsThumbnail } from '../thumbnails.js';
import type { EventsService } from './service.js';

const sessionStreamSchema = z.object({
  sessionId: z.uuid(),
  title: z.string(),
  status: streamSchema.shape.status,
  statusReason: z.string().nullable(),
  renditions: streamSchema.shape.renditions,
  thumbnailUrl: streamSchema.shape.thumbnailUrl.describe('The live picture, renewed every few seconds, with your own playback token for this session; null unless live and fresh.'),
  rtmpUrl: z.string().describe('The server to set in the encoder (OBS: Settings › Stream › Server); the key goes in Stream Key.'),
  lowLatency: streamSchema.shape.lowLatency.describe('Low-latency mode: the encoder should send a keyframe every 1 s and no B-frames.'),
  lastPublish: publishSessionSchema.nullable().describe('The latest publish with what the broadcaster was told (codec advice, restarts, why it ended); null before the first.'),
});
const withKey = sessionStreamSchema.extend({ streamKey: z.string().describe('Shown only in this answer; store it in the encoder.') });

export function sessionStreamEndpoints(deps: { events: EventsService; streams: StreamsService; config: Config }): Endpoint[] {
  const { events, streams, config } = deps;

  /** The session's stream id, if the caller may act on it (staff, or a speaker of this session). */
  async function streamOf(me: Principal, sessionId: string, action: 'sessions.stream' | 'sessions.stream.regenerateKey'): Promise<string> {
    const { session } = await events.session(me, sessionId);
    assertMay(me, action, { sessionSpeaker: session.speakers.some((s) => s.id === me.id) });
    if (!session.streamId) throw notFound('The session’s stream');
    return session.streamId;
  }

  async function view(me: Principal, sessionId: string, streamId: string) {
    const stream = await streams.get(streamId);
    const [[last], fresh] = await Promise.all([
      streams.publishSessions(streamId, { limit: 1 }),
      freshThumbnails(config.mediaDir, showsThumbnail(stream.status) ? [stream.playbackId] : []),
    ]);
    return {
      sessionId,
      title: stream.title,
      status: stream.status,
      statusReason: stream.statusReason,
      renditions: stream.renditions,
      thumbnailUrl: fresh.has(stream.playbackId) ? viewerThumbnailUrl(config, { playbackId: stream.playbackId, sessionId, userId: me.id }) : null,
      rtmpUrl: rtmpIngestUrl(config),
      lowLatency: stream.lowLatency,
      lastPublish: last ? publishSessionView(last) : null,
    };
  }

  return [
    endpoint({
      method: 'get', path: '/sessions/:id/stream', action: 'sessions.stream', tag: 'sessions',
      summary: 'The session’s broadcast: state, the latest publish log, where to send it (never the key)',
      params: idParams,
      answers: { 200: { description: 'The session’s stream.', schema: sessionStreamSchema }, ...problems(400, 401, 403, 404) },
      async handle({ params, me, res }) {
        res.json(await view(me, params.id, await streamOf(me, params.id, 'sessions.stream')));
      },
    }),
    endpoint({
      method: 'post', path: '/sessions/:id/stream/regenerate-key', action: 'sessions.stream.regenerateKey', tag: 'sessions',
      summary: 'Replace the session’s stream key; a publisher using the old key is disconnected',
      params: idParams,
      answers: { 200: { description: 'The session’s stream with its new key, shown only here.', schema: withKey }, ...problems(400, 401, 403, 404) },
      async handle({ params, me, res }) {
        const streamId = await streamOf(me, params.id, 'sessions.stream.regenerateKey');
        const { streamKey } = await streams.regenerateKey(streamId);
        res.json({ ...(await view(me, params.id, streamId)), streamKey });
      },
    }),
  ];
}
