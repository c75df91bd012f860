// The WebSocket protocol, declared once: every client frame (validated on receipt) and every
// server frame. A frame is a JSON object whose `type` is the event name, with camelCase payload
// fields beside it. A client frame may carry `id`; it is answered with {type:"ack", id} or
// {type:"error", id, code, message}. REST answers reuse the view schemas below.
import { z } from 'zod';

/** Frames larger than this are refused (the socket stays up). */
export const MAX_FRAME_BYTES = 4096;
export const CHAT_TEXT_MAX = 500;
export const QUESTION_TEXT_MAX = 500;
export const POLL_OPTIONS_MAX = 10;

const id = z.string().max(64, 'id is at most 64 characters').optional();
const uuid = (name: string) => z.uuid({ message: `${name} must be a UUID` });
/** Chat message ids are Postgres bigserials, sent as decimal strings. */
export const messageId = z.string().regex(/^[1-9][0-9]{0,17}$/, 'messageId must be a message id');
const text = (max: number) => z.string().max(max, `text is at most ${max} characters`).refine((s) => s.trim().length > 0, 'text must not be empty');

export const clientFrames = [
  z.object({ type: z.literal('event:join'), id, eventId: uuid('eventId') }).strict(),
  z.object({ type: z.literal('event:leave'), id, eventId: uuid('eventId') }).strict(),
  z.object({ type: z.literal('session:join'), id, sessionId: uuid('sessionId') }).strict(),
  z.object({ type: z.literal('session:leave'), id, sessionId: uuid('sessionId') }).strict(),
  z.object({ type: z.literal('chat:send'), id, sessionId: uuid('sessionId'), text: text(CHAT_TEXT_MAX), clientMsgId: z.string().min(1).max(64).optional() }).strict(),
  z.object({ type: z.literal('chat:pin'), id, messageId, pinned: z.boolean().default(true) }).strict(),
  z.object({ type: z.literal('chat:delete'), id, messageId }).strict(),
  z.object({
    type: z.literal('chat:settings'), id, sessionId: uuid('sessionId'),
    enabled: z.boolean().optional(), slowModeSeconds: z.number().int().min(0).max(3600).optional(), attendeesOnly: z.boolean().optional(),
  }).strict(),
  z.object({ type: z.literal('chat:mute'), id, sessionId: uuid('sessionId'), userId: uuid('userId'), minutes: z.number().int().min(1).max(60 * 24 * 30).optional(), reason: z.string().max(200).optional() }).strict(),
  z.object({ type: z.literal('chat:ban'), id, sessionId: uuid('sessionId'), userId: uuid('userId'), reason: z.string().max(200).optional() }).strict(),
  z.object({ type: z.literal('poll:create'), id, sessionId: uuid('sessionId'), question: text(300), options: z.array(z.string().trim().min(1).max(100)).min(2).max(POLL_OPTIONS_MAX) }).strict(),
  z.object({ type: z.literal('poll:vote'), id, pollId: uuid('pollId'), optionId: uuid('optionId') }).strict(),
  z.object({ type: z.literal('poll:close'), id, pollId: uuid('pollId') }).strict(),
  z.object({ type: z.literal('question:ask'), id, sessionId: uuid('sessionId'), text: text(QUESTION_TEXT_MAX) }).strict(),
  z.object({ type: z.literal('question:upvote'), id, questionId: uuid('questionId') }).strict(),
  z.object({ type: z.literal('question:answer'), id, questionId: uuid('questionId') }).strict(),
  z.object({ type: z.literal('typing'), id, sessionId: uuid('sessionId') }).strict(),
] as const;

export const clientFrame = z.discriminatedUnion('type', clientFrames);
export type ClientFrame = z.output<typeof clientFrame>;
export type ClientType = ClientFrame['type'];
export const CLIENT_TYPES = clientFrames.map((f) => f.shape.type.value) as ClientType[];

// ---- views (also what REST answers) --------------------------------------------------------

const iso = z.iso.datetime({ offset: true });
export const userRef = z.object({ id: z.uuid(), name: z.string() });

export const chatMessageSchema = z.object({
  id: messageId,
  sessionId: z.uuid(),
  seq: z.number().int().positive().describe("The message's number in its session: 1, 2, 3, … in the order they committed, with no gaps. Order by it; a number missing means you missed a message: resync with history ?after=."),
  user: userRef.nullable(),
  text: z.string(),
  clientMsgId: z.string().nullable(),
  createdAt: iso,
  pinned: z.boolean(),
});
export type ChatMessageView = z.output<typeof chatMessageSchema>;

export const chatSettingsSchema = z.object({
  sessionId: z.uuid(),
  enabled: z.boolean(),
  slowModeSeconds: z.number().int(),
  attendeesOnly: z.boolean(),
});
export type ChatSettingsView = z.output<typeof chatSettingsSchema>;

export const pollSchema = z.object({
  id: z.uuid(),
  sessionId: z.uuid(),
  question: z.string(),
  options: z.array(z.object({ id: z.uuid(), text: z.string(), votes: z.number().int() })),
  totalVotes: z.number().int(),
  closed: z.boolean(),
  createdAt: iso,
  closedAt: iso.nullable(),
  /** Only in answers to one user (REST, ack): the option they voted for. */
  myVote: z.uuid().nullable().optional(),
});
export type PollView = z.output<typeof pollSchema>;

export const questionSchema = z.object({
  id: z.uuid(),
  sessionId: z.uuid(),
  user: userRef.nullable(),
  text: z.string(),
  upvotes: z.number().int(),
  answered: z.boolean(),
  createdAt: iso,
  answeredAt: iso.nullable(),
  /** Only in answers to one user (REST): whether they upvoted it. */
  upvotedByMe: z.boolean().optional(),
});
export type QuestionView = z.output<typeof questionSchema>;

// ---- server frames -------------------------------------------------------------------------

export type ServerFrame =
  | { type: 'ack'; id: string }
  | { type: 'error'; id?: string; code: string; message: string; retryAfterSeconds?: number }
  | { type: 'chat:message'; message: ChatMessageView }
  | { type: 'chat:pinned'; sessionId: string; message: ChatMessageView | null }
  | { type: 'chat:deleted'; sessionId: string; messageId: string }
  | { type: 'chat:settings'; settings: ChatSettingsView }
  | { type: 'poll:new'; poll: PollView }
  | { type: 'poll:vote'; poll: PollView }
  | { type: 'poll:closed'; poll: PollView }
  | { type: 'question:new'; question: QuestionView }
  | { type: 'question:upvote'; question: { id: string; sessionId: string; upvotes: number } }
  | { type: 'question:answered'; question: QuestionView }
  | { type: 'viewers:count'; sessionId: string; count: number }
  | { type: 'typing'; sessionId: string; user: { id: string; name: string } }
  /** The state of the session's broadcast: every transition, and once right after a session:join's ack. */
  | { type: 'stream:status'; sessionId: string; status: 'offline' | 'starting' | 'live' | 'reconnecting' | 'failed'; renditions: { name: string; width: number; height: number }[]; startedAt?: string; reason?: string }
  /**
   * A relay destination of the session's stream changed status (idle, connecting, live, retrying,
   * failed). Only staff and the session's speakers get it, never attendees.
   */
  | { type: 'relay:status'; sessionId: string; streamId: string; destinationId: string; name: string; status: 'idle' | 'connecting' | 'live' | 'retrying' | 'failed'; lastError: string | null }
  /** You were taken out of a room: `code` says why (banned, forbidden, not_attendee, not_found). */
  | { type: 'room:closed'; room: string; code: string; reason: string };

/** Rooms: everyone in an event (announcements) or in one of its sessions (chat, polls, Q&A). */
export type RoomName = `event:${string}` | `session:${string}`;
export const sessionRoom = (sessionId: string): RoomName => `session:${sessionId}`;
export const eventRoom = (eventId: string): RoomName => `event:${eventId}`;
