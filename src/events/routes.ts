// HTTP for events and their attendees. Sessions are in session-routes.ts.
import { z } from 'zod';
import type { Config } from '../config.js';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, partialUpdate, idParams, page, pageQuery, problems, toPage, uuid, timeIdCursor } from '../http/schemas.js';
import { badRequest } from '../errors.js';
import { descriptionSchema, isTimeZone, orderMessage, ordered, titleSchema, when } from './inputs.js';
import type { ModerationService } from '../moderation/service.js';
import type { EventsService } from './service.js';
import { sessionEndpoints } from './session-routes.js';
import { EVENT_STATUSES, PHASES, VISIBILITIES, type EventFields } from './types.js';
import { UPLOAD_URL } from '../uploads/store.js';
import { attendeeSchema, attendeeView, eventSchema, eventView } from './view.js';

const color = (name: string) => z.string().regex(/^#[0-9a-fA-F]{6}$/, `${name} must be a colour written #RRGGBB`);
// An image URL: an outside http(s) URL, or an image uploaded to this appliance (POST
// /api/uploads/images) as the exact same-origin path it answered; no other relative URL.
const link = (name: string) =>
  z.union([z.url({ protocol: /^https?$/ }).max(2048), z.string().regex(UPLOAD_URL)], {
    error: (issue) =>
      typeof issue.input === 'string' && issue.input.length > 2048
        ? `${name} is at most 2048 characters`
        : `${name} must be an http or https URL, or an uploaded image's address (/uploads/<sha256>.<png|jpg|webp|gif>, as POST /api/uploads/images answered)`,
  });

const fields = {
  title: titleSchema,
  description: descriptionSchema,
  startsAt: when('startsAt'),
  endsAt: when('endsAt'),
  timezone: z.string({ message: 'timezone must be a string' }).max(64, 'timezone is at most 64 characters').refine(isTimeZone, 'timezone must be an IANA time zone, e.g. Europe/Berlin'),
  status: z.enum(EVENT_STATUSES, { message: `status must be one of ${EVENT_STATUSES.join(', ')}` }),
  visibility: z.enum(VISIBILITIES, { message: `visibility must be one of ${VISIBILITIES.join(', ')}` }),
  attendeeLimit: z
    .number({ message: 'attendeeLimit must be a number or null' })
    .int('attendeeLimit must be a whole number')
    .min(1, 'attendeeLimit is at least 1')
    .max(1_000_000, 'attendeeLimit is at most 1000000')
    .nullable()
    .describe('null: no limit'),
  branding: z
    .object({
      primaryColor: color('primaryColor').optional(),
      secondaryColor: color('secondaryColor').optional(),
      logoUrl: link('logoUrl').optional(),
      bannerUrl: link('bannerUrl').optional(),
    })
    .strict(),
};

const createBody = z
  .object({
    ...fields,
    description: fields.description.optional(),
    timezone: fields.timezone.default('UTC'),
    status: fields.status.default('draft'),
    visibility: fields.visibility.default('public'),
    attendeeLimit: fields.attendeeLimit.default(null),
    branding: fields.branding.default({}),
  })
  .strict()
  .refine(ordered, orderMessage);

const updateBody = partialUpdate(fields)
  .refine(ordered, orderMessage)
  .describe('PUT updates the fields given; the others keep their values. `branding` is replaced as a whole.');

const listQuery = z.object({ phase: z.enum(PHASES, { message: `phase must be one of ${PHASES.join(', ')}` }).optional(), ...pageQuery }).strict();
const pageOnly = z.object(pageQuery).strict();
const addBody = z
  .object({ userIds: z.array(uuid('userIds[]'), { message: 'userIds must be a list of user ids' }).min(1, 'userIds needs at least one id').max(1000, 'userIds takes at most 1000 ids') })
  .strict();

const attendeeParams = z.object({ id: uuid('id'), userId: uuid('userId') }).strict();

const joinSchema = z.object({ joined: z.literal(true), attendeeCount: z.number().int() });
const addedSchema = z.object({ added: z.number().int(), alreadyAttending: z.number().int(), attendeeCount: z.number().int() });

const eventCursor = [z.enum(['start', 'end']), ...timeIdCursor] as const;

export function eventEndpoints(deps: { events: EventsService; config: Config; moderation: Pick<ModerationService, 'isBanned'> }): Endpoint[] {
  const { events } = deps;
  return [
    endpoint({
      method: 'get', path: '/events', action: 'events.list', tag: 'events',
      summary: 'List events you may see, optionally by phase',
      description:
        'upcoming and live (and no filter) come by start time, earliest first; past by end time, latest first. ' +
        'Staff see every event; others see published public events and private or unlisted ones they attend or speak at.',
      query: listQuery,
      answers: { 200: { description: 'A page of events.', schema: page(eventSchema) }, ...problems(400, 401) },
      async handle({ query, me, res }) {
        const order = query.phase === 'past' ? 'end' : 'start';
        const after = decodeCursor(query.cursor, eventCursor);
        if (after && after[0] !== order) throw badRequest('The request query is not valid.', { errors: [{ field: 'query.cursor', message: 'this cursor belongs to another phase filter' }] });
        const rows = await events.list(me, { phase: query.phase, limit: query.limit + 1, after: after && { at: after[1], id: after[2] } });
        res.json(toPage(rows, query.limit, eventView, (e) => [order, order === 'end' ? e.endsAt : e.startsAt, e.id]));
      },
    }),
    endpoint({
      method: 'get', path: '/events/:id', action: 'events.get', tag: 'events',
      summary: 'One event (404 if you may not see it)',
      params: idParams,
      answers: { 200: { description: 'The event.', schema: eventSchema }, ...problems(400, 401, 404) },
      async handle({ params, me, res }) {
        res.json(eventView(await events.get(me, params.id)));
      },
    }),
    endpoint({
      method: 'post', path: '/events', action: 'events.create', tag: 'events',
      summary: 'Create an event (a draft unless status is published)',
      body: createBody,
      answers: { 201: { description: 'Created.', schema: eventSchema }, ...problems(400, 401, 403, 413, 415) },
      async handle({ body, me, res }) {
        const event = await events.create(me, { ...body, description: body.description ?? '' });
        res.status(201).json(eventView(event));
      },
    }),
    endpoint({
      method: 'put', path: '/events/:id', action: 'events.update', tag: 'events',
      summary: 'Change an event: PUT updates the fields given',
      params: idParams,
      body: updateBody,
      answers: { 200: { description: 'The changed event.', schema: eventSchema }, ...problems(400, 401, 403, 404, 409, 413, 415) },
      async handle({ params, body, me, res }) {
        await events.update(params.id, body as Partial<EventFields>);
        res.json(eventView(await events.get(me, params.id)));
      },
    }),
    endpoint({
      method: 'delete', path: '/events/:id', action: 'events.delete', tag: 'events',
      summary: 'Delete an event with its sessions and attendees',
      params: idParams,
      answers: { 204: { description: 'Deleted.' }, ...problems(400, 401, 403, 404) },
      async handle({ params, res }) {
        await events.remove(params.id);
        res.status(204).end();
      },
    }),
    endpoint({
      method: 'post', path: '/events/:id/join', action: 'events.join', tag: 'events',
      summary: 'Join a published public or unlisted event (refused once it is full)',
      description: 'Joining again changes nothing and answers 200. Private events are joined only by an organiser adding you. Joins are limited per user (RATE_LIMIT_JOIN): past it, 429 `rate_limited` with Retry-After.',
      params: idParams,
      answers: {
        201: { description: 'Joined.', schema: joinSchema },
        200: { description: 'You already attend.', schema: joinSchema },
        ...problems(400, 401, 403, 404, 409, 429, 503),
      },
      async handle({ params, me, res }) {
        const { created, attendeeCount } = await events.join(me, params.id);
        res.status(created ? 201 : 200).json({ joined: true, attendeeCount });
      },
    }),
    endpoint({
      method: 'delete', path: '/events/:id/join', action: 'events.leave', tag: 'events',
      summary: 'Leave an event (nothing happens if you did not attend)',
      params: idParams,
      answers: { 204: { description: 'You no longer attend.' }, ...problems(400, 401, 404) },
      async handle({ params, me, res }) {
        await events.leave(me, params.id);
        res.status(204).end();
      },
    }),
    endpoint({
      method: 'get', path: '/events/:id/attendees', action: 'events.attendees.list', tag: 'events',
      summary: 'The event’s attendees in joining order',
      params: idParams,
      query: pageOnly,
      answers: { 200: { description: 'A page of attendees.', schema: page(attendeeSchema) }, ...problems(400, 401, 403, 404) },
      async handle({ params, query, me, res }) {
        const after = decodeCursor(query.cursor, timeIdCursor);
        const rows = await events.attendees(me, params.id, { limit: query.limit + 1, after: after && { at: after[0], id: after[1] } });
        res.json(toPage(rows, query.limit, attendeeView, (a) => [a.joinedAt, a.user.id]));
      },
    }),
    endpoint({
      method: 'post', path: '/events/:id/attendees', action: 'events.attendees.add', tag: 'events',
      summary: 'Add users as attendees (how private events get theirs); the limit still applies',
      description: 'All or nothing: unknown user ids are a 400 naming them; passing the limit is a 409 and adds nobody.',
      params: idParams,
      body: addBody,
      answers: { 200: { description: 'Added.', schema: addedSchema }, ...problems(400, 401, 403, 404, 409, 413, 415) },
      async handle({ params, body, res }) {
        res.json(await events.addAttendees(params.id, body.userIds));
      },
    }),
    endpoint({
      method: 'delete', path: '/events/:id/attendees/:userId', action: 'events.attendees.remove', tag: 'events',
      summary: 'Take a user off the event’s attendees',
      description:
        'Their open WebSocket sockets leave the event’s rooms at once, on every node, when they may no longer read it ' +
        '(a private event: `room:closed` with code `not_attendee`); of a public event they may still follow it. ' +
        '404 when the event does not exist or the user does not attend it.',
      params: attendeeParams,
      answers: { 204: { description: 'No longer an attendee.' }, ...problems(400, 401, 403, 404) },
      async handle({ params, res }) {
        await events.removeAttendee(params.id, params.userId);
        res.status(204).end();
      },
    }),
    ...sessionEndpoints(deps),
  ];
}
