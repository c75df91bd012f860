// HTTP for mutes and bans per event (staff: chat.moderate). Mounted by chat/routes.ts.
import { z } from 'zod';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, idParams, isoDate, page, pageQuery, problems, toPage, uuid } from '../http/schemas.js';
import { userRef } from '../realtime/protocol.js';
import type { ModerationService, Restriction } from './service.js';

const KINDS = ['mute', 'ban'] as const;
const MAX_MINUTES = 60 * 24 * 30;

export const restrictionSchema = z.object({
  eventId: z.uuid(),
  user: userRef,
  kind: z.enum(KINDS),
  until: isoDate.nullable().describe('null: until a moderator lifts it.'),
  reason: z.string(),
  createdBy: userRef.nullable(),
  createdAt: isoDate,
});

export const restrictionView = (r: Restriction) => ({
  eventId: r.eventId,
  user: r.user,
  kind: r.kind,
  until: r.until ? r.until.toISOString() : null,
  reason: r.reason,
  createdBy: r.createdBy,
  createdAt: r.createdAt.toISOString(),
});

const reason = z.string({ message: 'reason must be a string' }).max(200, 'reason is at most 200 characters').optional();
const muteBody = z
  .object({
    userId: uuid('userId'),
    minutes: z.number({ message: 'minutes must be a number' }).int('minutes must be a whole number').min(1, 'minutes is at least 1').max(MAX_MINUTES, `minutes is at most ${MAX_MINUTES}`).optional()
      .describe('How long; leave out to mute until lifted.'),
    reason,
  })
  .strict();
const banBody = z.object({ userId: uuid('userId'), reason }).strict();
const userParams = z.object({ id: uuid('id'), userId: uuid('userId') }).strict();
const listQuery = z.object({ kind: z.enum(KINDS, { message: 'kind must be mute or ban' }).optional(), ...pageQuery }).strict();
const cursorParts = [isoDate.transform((d) => new Date(d)), uuid('cursor'), z.enum(KINDS)] as const;

export function moderationEndpoints(deps: { moderation: ModerationService }): Endpoint[] {
  const { moderation } = deps;
  const placed = { 201: { description: 'In force now.', schema: restrictionSchema }, 200: { description: 'Was already in force: renewed with these terms.', schema: restrictionSchema } };
  return [
    endpoint({
      method: 'get', path: '/events/:id/restrictions', action: 'chat.moderate', tag: 'moderation',
      summary: 'Mutes and bans in force in an event, newest first',
      params: idParams,
      query: listQuery,
      answers: { 200: { description: 'A page of restrictions.', schema: page(restrictionSchema) }, ...problems(400, 401, 403, 404) },
      async handle({ params, query, me, res }) {
        const after = decodeCursor(query.cursor, cursorParts);
        const rows = await moderation.list(me, params.id, { kind: query.kind, limit: query.limit + 1, after: after && { at: after[0], userId: after[1], kind: after[2] } });
        res.json(toPage(rows, query.limit, restrictionView, (r) => [r.createdAt, r.user.id, r.kind]));
      },
    }),
    endpoint({
      method: 'post', path: '/events/:id/mutes', action: 'chat.moderate', tag: 'moderation',
      summary: "Mute a user in the event's chat (for `minutes`, or until lifted)",
      description: 'Their sends are refused with 403 `muted`. Staff cannot be muted (409 `cannot_restrict_staff`).',
      params: idParams,
      body: muteBody,
      answers: { ...placed, ...problems(400, 401, 403, 404, 409, 413, 415) },
      async handle({ params, body, me, res }) {
        const { restriction, created } = await moderation.mute(me, params.id, body);
        res.status(created ? 201 : 200).json(restrictionView(restriction));
      },
    }),
    endpoint({
      method: 'delete', path: '/events/:id/mutes/:userId', action: 'chat.moderate', tag: 'moderation',
      summary: 'Lift a mute',
      params: userParams,
      answers: { 204: { description: 'Lifted.' }, ...problems(400, 401, 403, 404) },
      async handle({ params, me, res }) {
        await moderation.unmute(me, params.id, params.userId);
        res.status(204).end();
      },
    }),
    endpoint({
      method: 'post', path: '/events/:id/bans', action: 'chat.moderate', tag: 'moderation',
      summary: "Ban a user from the event: out of its rooms on every node (room:closed), and kept out",
      description: 'Staff cannot be banned (409 `cannot_restrict_staff`). 503 `unavailable` when the kick cannot go out (then no new ban is kept).',
      params: idParams,
      body: banBody,
      answers: { ...placed, ...problems(400, 401, 403, 404, 409, 413, 415, 503) },
      async handle({ params, body, me, res }) {
        const { restriction, created } = await moderation.ban(me, params.id, body);
        res.status(created ? 201 : 200).json(restrictionView(restriction));
      },
    }),
    endpoint({
      method: 'delete', path: '/events/:id/bans/:userId', action: 'chat.moderate', tag: 'moderation',
      summary: 'Lift a ban (the user may enter the rooms again)',
      params: userParams,
      answers: { 204: { description: 'Lifted.' }, ...problems(400, 401, 403, 404) },
      async handle({ params, me, res }) {
        await moderation.unban(me, params.id, params.userId);
        res.status(204).end();
      },
    }),
  ];
}
