// HTTP for chat: history, sending, pin, delete and per-session settings. Mutes and bans are in
// src/moderation/routes.ts and mounted with these. Every write also reaches the session's room
// over WebSocket (the service publishes it).
import { z } from 'zod';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { idParams, problems } from '../http/schemas.js';
import { CHAT_TEXT_MAX, chatMessageSchema, chatSettingsSchema, messageId } from '../realtime/protocol.js';
import type { ChatService } from './service.js';

const HISTORY_MAX = 100;

const historyQuery = z
  .object({
    after: messageId.optional().describe('The next messages after this id (resync after a reconnect: exactly the missed ones).'),
    before: messageId.optional().describe('The messages just before this id (scrolling back).'),
    limit: z.coerce
      .number({ message: 'limit must be a number' })
      .int('limit must be a whole number')
      .min(1, 'limit is at least 1')
      .max(HISTORY_MAX, `limit is at most ${HISTORY_MAX}`)
      .default(50),
  })
  .strict()
  .refine((q) => q.after === undefined || q.before === undefined, 'send after or before, not both');

const historySchema = z.object({
  items: z.array(chatMessageSchema).describe('Oldest first.'),
  nextCursor: messageId
    .nullable()
    .describe('With after: pass it as after= for the newer messages that follow. Otherwise: pass it as before= for older ones. Null: nothing more that way.'),
  pinned: chatMessageSchema.nullable().describe('The pinned message of the session, if any.'),
  lastSeq: z.number().int().min(0).describe(
    "The seq of the session's latest message when this was read (0: none yet). Every message up to it is committed: after a resync, take it as the last seq you have (a missing number at or below it was deleted), and keep only live chat:message frames above it.",
  ),
});

const sendBody = z
  .object({
    text: z
      .string({ message: 'text must be a string' })
      .max(CHAT_TEXT_MAX, `text is at most ${CHAT_TEXT_MAX} characters`)
      .refine((s) => s.trim().length > 0, 'text must not be empty')
      .describe('Stored and sent as written (no trimming, no HTML); clients escape it.'),
    clientMsgId: z.string({ message: 'clientMsgId must be a string' }).min(1, 'clientMsgId must not be empty').max(64, 'clientMsgId is at most 64 characters').optional()
      .describe('Your id for this message: sending again with the same one answers the first message, not a second one.'),
  })
  .strict();

const pinBody = z.object({ pinned: z.boolean({ message: 'pinned must be true or false' }) }).strict();
const messageParams = z.object({ id: messageId }).strict();

const settingsBody = z
  .object({
    enabled: z.boolean({ message: 'enabled must be true or false' }).optional(),
    slowModeSeconds: z.number({ message: 'slowModeSeconds must be a number' }).int('slowModeSeconds must be a whole number').min(0, 'slowModeSeconds is at least 0').max(3600, 'slowModeSeconds is at most 3600').optional()
      .describe('0: off; otherwise one message per person every N seconds.'),
    attendeesOnly: z.boolean({ message: 'attendeesOnly must be true or false' }).optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'send at least one setting to change');

export function chatEndpoints(deps: { chat: ChatService }): Endpoint[] {
  const { chat } = deps;
  return [
    endpoint({
      method: 'get', path: '/chat/session/:id', action: 'chat.read', tag: 'chat',
      summary: 'Chat history of a session, oldest first, with ?after= and ?before= cursors',
      description: 'Neither cursor: the latest `limit` messages. Deleted messages are left out. 404 if you may not see the event.',
      params: idParams,
      query: historyQuery,
      answers: { 200: { description: 'Messages.', schema: historySchema }, ...problems(400, 401, 403, 404) },
      async handle({ params, query, me, res }) {
        const { items, more, pinned, lastSeq } = await chat.history(me, params.id, query);
        const edge = query.after !== undefined ? items[items.length - 1] : items[0];
        res.json({ items, nextCursor: more && edge ? edge.id : null, pinned, lastSeq });
      },
    }),
    endpoint({
      method: 'post', path: '/chat/session/:id', action: 'chat.send', tag: 'chat',
      summary: 'Send a chat message to a session (everyone in its room receives chat:message)',
      description:
        'Refused with 403 `muted` (with `until`), `banned`, `chat_disabled` or `attendees_only`, 429 `slow_mode` or `rate_limited` (per user across REST and WebSocket, RATE_LIMIT_CHAT; both with Retry-After), ' +
        'Answered once the message has committed; it reaches the room (chat:message, with its seq) after that, also when Redis is down for a while (it waits in the outbox until Redis is back). ' +
        'No answer or a 5xx while the database is unreachable: the message may or may not have committed; send it again with the same clientMsgId. Staff pass disabled chat, slow mode and attendees-only.',
      params: idParams,
      body: sendBody,
      answers: {
        201: { description: 'Sent.', schema: chatMessageSchema },
        200: { description: 'Already sent with this clientMsgId: the original message.', schema: chatMessageSchema },
        ...problems(400, 401, 403, 404, 413, 415, 429, 503),
      },
      async handle({ params, body, me, res }) {
        const { message, created } = await chat.send(me, { sessionId: params.id, ...body });
        res.status(created ? 201 : 200).json(message);
      },
    }),
    endpoint({
      method: 'patch', path: '/chat/:id/pin', action: 'chat.pin', tag: 'chat',
      summary: "Pin or unpin a message (one pinned per session: pinning another unpins the old)",
      params: messageParams,
      body: pinBody,
      answers: { 200: { description: 'The message as it is now.', schema: chatMessageSchema }, ...problems(400, 401, 403, 404, 413, 415, 503) },
      async handle({ params, body, me, res }) {
        res.json(await chat.pin(me, params.id, body.pinned));
      },
    }),
    endpoint({
      method: 'delete', path: '/chat/:id', action: 'chat.delete', tag: 'chat',
      summary: 'Delete a message (staff, or its author); everyone in the room receives chat:deleted',
      params: messageParams,
      answers: { 204: { description: 'Deleted.' }, ...problems(400, 401, 403, 404, 503) },
      async handle({ params, me, res }) {
        await chat.remove(me, params.id);
        res.status(204).end();
      },
    }),
    endpoint({
      method: 'get', path: '/chat/session/:id/settings', action: 'chat.read', tag: 'chat',
      summary: "A session's chat settings",
      params: idParams,
      answers: { 200: { description: 'The settings.', schema: chatSettingsSchema }, ...problems(400, 401, 404) },
      async handle({ params, me, res }) {
        res.json(await chat.settings(me, params.id));
      },
    }),
    endpoint({
      method: 'put', path: '/chat/session/:id/settings', action: 'chat.settings', tag: 'chat',
      summary: "Change a session's chat settings (the fields given); the room receives chat:settings",
      params: idParams,
      body: settingsBody,
      answers: { 200: { description: 'The settings now.', schema: chatSettingsSchema }, ...problems(400, 401, 403, 404, 413, 415, 503) },
      async handle({ params, body, me, res }) {
        res.json(await chat.updateSettings(me, params.id, body));
      },
    }),
  ];
}
