// HTTP for relay destinations. The destination's stream key is write-only: accepted in POST and
// PATCH, stored encrypted, never in an answer (only `keyHint`, its last 4 characters).
// Organisers manage them under the stream; a session's speakers read their stream's through
// GET /api/sessions/:id/stream/destinations (they never see stream ids).
import { z } from 'zod';
import { assertMay } from '../access.js';
import type { EventsService } from '../events/service.js';
import { notFound } from '../errors.js';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, idParams, isoDate, page, pageQuery, problems, timeIdCursor, toPage, uuid } from '../http/schemas.js';
import { RELAY_STATUSES, type Destination } from './repo.js';
import type { DestinationsService } from './service.js';
import { URL_MAX } from './url-check.js';

const fields = {
  name: z.string().trim().min(1, 'name is required').max(100, 'name is at most 100 characters'),
  url: z.string().max(URL_MAX, `url is at most ${URL_MAX} characters`).describe('rtmp:// or rtmps:// server URL as the platform shows it, without the key (e.g. rtmps://a.rtmps.youtube.com:443/live2).'),
  // no echo of the value in any message: it is a secret
  streamKey: z
    .string({ message: 'streamKey must be a string' })
    .min(1, 'streamKey is required')
    .max(500, 'streamKey is at most 500 characters')
    .regex(/^[\x21-\x7e]+$/, 'streamKey may hold only printable characters without spaces')
    .describe('Write-only: stored encrypted, never returned or logged.'),
  enabled: z.boolean({ message: 'enabled must be true or false' }),
};
const createBody = z.object({ ...fields, enabled: fields.enabled.optional() }).strict();
const updateBody = z
  .object(fields)
  .partial()
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'send at least one field to change');
const destParams = z.object({ id: uuid('id'), destId: uuid('destId') }).strict();
const pageOnly = z.object(pageQuery).strict();

export const destinationSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  url: z.string().describe('The server URL, never with the key.'),
  enabled: z.boolean(),
  status: z.enum(RELAY_STATUSES).describe('idle (not relaying: stream offline or destination disabled), connecting, live, retrying (backing off after a failure), failed.'),
  bytesSent: z.number(),
  bitrateKbps: z.number().nullable(),
  connectedAt: isoDate.nullable(),
  retries: z.number().int(),
  lastError: z.string().nullable().describe('The last failure in words (never a secret).'),
  keyHint: z.string().describe('The last 4 characters of the stream key.'),
});

export function destinationView(d: Destination): z.output<typeof destinationSchema> {
  return {
    id: d.id,
    name: d.name,
    url: d.url,
    enabled: d.enabled,
    status: d.status,
    bytesSent: d.bytesSent,
    bitrateKbps: d.bitrateKbps,
    connectedAt: d.connectedAt ? d.connectedAt.toISOString() : null,
    retries: d.retries,
    lastError: d.lastError,
    keyHint: d.keyHint,
  };
}

export function destinationEndpoints(deps: { destinations: DestinationsService; events: EventsService }): Endpoint[] {
  const { destinations } = deps;
  const list = async (streamId: string, query: { limit: number; cursor?: string }) => {
    const after = decodeCursor(query.cursor, timeIdCursor);
    const rows = await destinations.list(streamId, { limit: query.limit + 1, after: after && { createdAt: after[0], id: after[1] } });
    return toPage(rows, query.limit, destinationView, (d) => [d.createdAt, d.id]);
  };
  return [
    endpoint({
      method: 'get', path: '/streams/:id/destinations', action: 'streams.destinations.list', tag: 'streams',
      summary: 'The stream’s relay destinations with their status (never their keys)',
      params: idParams,
      query: pageOnly,
      answers: { 200: { description: 'A page of destinations, oldest first.', schema: page(destinationSchema) }, ...problems(400, 401, 403, 404) },
      async handle({ params, query, res }) {
        res.json(await list(params.id, query));
      },
    }),
    endpoint({
      method: 'post', path: '/streams/:id/destinations', action: 'streams.destinations.create', tag: 'streams',
      summary: 'Add a relay destination (YouTube, Twitch, any RTMP(S) server); it takes effect within seconds, also while live',
      description:
        '400 `invalid_destination` for a URL that is not rtmp:// or rtmps://, carries credentials, a query or the key; 400 `destination_private` for a host on a loopback, ' +
        'private or link-local address (unless RELAY_ALLOW_PRIVATE); 409 `too_many_destinations` past RELAY_MAX_DESTINATIONS; 503 `relay_keys_missing` without RELAY_KEYS.',
      params: idParams,
      body: createBody,
      answers: { 201: { description: 'Added.', schema: destinationSchema }, ...problems(400, 401, 403, 404, 409, 413, 415, 503) },
      async handle({ params, body, res }) {
        res.status(201).json(destinationView(await destinations.create(params.id, body)));
      },
    }),
    endpoint({
      method: 'patch', path: '/streams/:id/destinations/:destId', action: 'streams.destinations.update', tag: 'streams',
      summary: 'Rename, re-point, replace the key of, enable or disable a relay destination',
      params: destParams,
      body: updateBody,
      answers: { 200: { description: 'The destination.', schema: destinationSchema }, ...problems(400, 401, 403, 404, 413, 415, 503) },
      async handle({ params, body, res }) {
        res.json(destinationView(await destinations.update(params.id, params.destId, body)));
      },
    }),
    endpoint({
      method: 'delete', path: '/streams/:id/destinations/:destId', action: 'streams.destinations.delete', tag: 'streams',
      summary: 'Remove a relay destination (a running relay to it stops within seconds)',
      params: destParams,
      answers: { 204: { description: 'Removed.' }, ...problems(400, 401, 403, 404) },
      async handle({ params, res }) {
        await destinations.remove(params.id, params.destId);
        res.status(204).end();
      },
    }),
    endpoint({
      method: 'get', path: '/sessions/:id/stream/destinations', action: 'sessions.stream.destinations', tag: 'sessions',
      summary: 'The relay destinations of the session’s stream and their status, for its speakers and organisers',
      params: idParams,
      query: pageOnly,
      answers: { 200: { description: 'A page of destinations, oldest first.', schema: page(destinationSchema) }, ...problems(400, 401, 403, 404) },
      async handle({ params, query, me, res }) {
        const { session } = await deps.events.session(me, params.id);
        assertMay(me, 'sessions.stream.destinations', { sessionSpeaker: session.speakers.some((s) => s.id === me.id) });
        if (!session.streamId) throw notFound('The session’s stream');
        res.json(await list(session.streamId, query));
      },
    }),
  ];
}
