// HTTP for event sessions: time slots of an event with speakers and an optional stream.
import { z } from 'zod';
import { roleMay } from '../access.js';
import type { Config } from '../config.js';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, partialUpdate, idParams, page, pageQuery, problems, toPage, uuid, timeIdCursor } from '../http/schemas.js';
import type { Principal } from '../principal.js';
import { descriptionSchema, orderMessage, ordered, titleSchema, when } from './inputs.js';
import type { ModerationService } from '../moderation/service.js';
import type { EventsService } from './service.js';
import type { EventForCaller, Session } from './types.js';
import { sessionSchema, sessionView } from './view.js';
import { freshThumbnails, showsThumbnail } from '../thumbnails.js';

const fields = {
  title: titleSchema,
  description: descriptionSchema,
  startsAt: when('startsAt'),
  endsAt: when('endsAt'),
  speakerIds: z.array(uuid('speakerIds[]'), { message: 'speakerIds must be a list of user ids' }).max(20, 'speakerIds takes at most 20 speakers'),
  streamId: uuid('streamId').nullable().describe('The stream that carries this session; null for none.'),
};

const createBody = z
  .object({ ...fields, description: fields.description.optional(), speakerIds: fields.speakerIds.optional(), streamId: fields.streamId.optional() })
  .strict()
  .refine(ordered, orderMessage);
const updateBody = partialUpdate(fields)
  .refine(ordered, orderMessage)
  .describe('PUT updates the fields given; speakerIds replaces the list; streamId null unassigns the stream.');
const pageOnly = z.object(pageQuery).strict();
const mySessionSchema = sessionSchema.extend({ eventTitle: z.string().describe('The title of the session’s event.') });

export function sessionEndpoints(deps: { events: EventsService; config: Config; moderation: Pick<ModerationService, 'isBanned'> }): Endpoint[] {
  const { events, config, moderation } = deps;
  /**
   * How the caller sees these sessions of the event: a banned attendee gets no playback URL (the
   * moderation service decides); a live stream's thumbnail URL only while its picture is fresh.
   */
  const view = async (me: Principal, event: EventForCaller, sessions: Session[]) => {
    const staff = roleMay(me.role, 'events.seeAll');
    const live = sessions.flatMap((s) => (s.stream && showsThumbnail(s.stream.status) ? [s.stream.playbackId] : []));
    const [banned, thumbs] = await Promise.all([!staff && moderation.isBanned(event.id, me.id), freshThumbnails(config.mediaDir, live)]);
    return (s: Session) => sessionView(config, s, { staff, event, userId: me.id, banned, freshThumbnails: thumbs });
  };
  return [
    endpoint({
      method: 'get', path: '/events/:id/sessions', action: 'sessions.list', tag: 'sessions',
      summary: 'The event’s sessions by start time',
      description: 'playbackUrl is given to staff, the event’s speakers and its joined attendees; `watch` says why not otherwise.',
      params: idParams,
      query: pageOnly,
      answers: { 200: { description: 'A page of sessions.', schema: page(sessionSchema) }, ...problems(400, 401, 404) },
      async handle({ params, query, me, res }) {
        const after = decodeCursor(query.cursor, timeIdCursor);
        const { event, sessions } = await events.sessions(me, params.id, { limit: query.limit + 1, after: after && { at: after[0], id: after[1] } });
        res.json(toPage(sessions, query.limit, await view(me, event, sessions), (s) => [s.startsAt, s.id]));
      },
    }),
    endpoint({
      method: 'get', path: '/me/sessions', action: 'sessions.mine', tag: 'sessions',
      summary: 'The sessions you speak at, by start time',
      description:
        'Every session that names you among its speakers, in events you may see (a draft event’s sessions appear once it is published; staff see them at once). ' +
        'Each session’s broadcast is at GET /api/sessions/:id/stream. An empty list for anyone who speaks at none.',
      query: pageOnly,
      answers: { 200: { description: 'A page of sessions with their event’s title.', schema: page(mySessionSchema) }, ...problems(400, 401) },
      async handle({ query, me, res }) {
        const after = decodeCursor(query.cursor, timeIdCursor);
        const { events: byId, sessions } = await events.speakerSessions(me, { limit: query.limit + 1, after: after && { at: after[0], id: after[1] } });
        const views = new Map<string, (s: Session) => z.output<typeof sessionSchema>>();
        for (const [id, event] of byId) views.set(id, await view(me, event, sessions.filter((s) => s.eventId === id)));
        res.json(toPage(sessions, query.limit, (s) => ({ ...views.get(s.eventId)!(s), eventTitle: byId.get(s.eventId)!.title }), (s) => [s.startsAt, s.id]));
      },
    }),
    endpoint({
      method: 'post', path: '/events/:id/sessions', action: 'sessions.create', tag: 'sessions',
      summary: 'Add a session to an event',
      description: 'The session must lie within the event’s times; a stream may carry only one session at a time (409 otherwise).',
      params: idParams,
      body: createBody,
      answers: { 201: { description: 'Created.', schema: sessionSchema }, ...problems(400, 401, 403, 404, 409, 413, 415) },
      async handle({ params, body, me, res }) {
        const { event, session } = await events.createSession(me, params.id, body);
        res.status(201).json((await view(me, event, [session]))(session));
      },
    }),
    endpoint({
      method: 'get', path: '/sessions/:id', action: 'sessions.get', tag: 'sessions',
      summary: 'One session, with its playback URL if you may watch',
      params: idParams,
      answers: { 200: { description: 'The session.', schema: sessionSchema }, ...problems(400, 401, 404) },
      async handle({ params, me, res }) {
        const { event, session } = await events.session(me, params.id);
        res.json((await view(me, event, [session]))(session));
      },
    }),
    endpoint({
      method: 'put', path: '/sessions/:id', action: 'sessions.update', tag: 'sessions',
      summary: 'Change a session: PUT updates the fields given',
      params: idParams,
      body: updateBody,
      answers: { 200: { description: 'The changed session.', schema: sessionSchema }, ...problems(400, 401, 403, 404, 409, 413, 415) },
      async handle({ params, body, me, res }) {
        const { event, session } = await events.updateSession(me, params.id, body);
        res.json((await view(me, event, [session]))(session));
      },
    }),
    endpoint({
      method: 'delete', path: '/sessions/:id', action: 'sessions.delete', tag: 'sessions',
      summary: 'Delete a session',
      params: idParams,
      answers: { 204: { description: 'Deleted.' }, ...problems(400, 401, 403, 404) },
      async handle({ params, res }) {
        await events.deleteSession(params.id);
        res.status(204).end();
      },
    }),
  ];
}
