// Chat in an event session: send, history, pin, delete, settings; mutes and bans are the
// moderation service's (a peer, handed in). REST and WebSocket both call these functions, which check access themselves.
//
// Sending (flow (b) of the architecture): in ONE transaction the session's chat row is taken
// (UPDATE … RETURNING: the lock that orders a session's messages, and the counter that gives the
// message its `seq`), the message is inserted and its chat:message frame written to the outbox.
// Only after COMMIT is the frame published (realtime/outbox.ts), so nobody ever receives a
// message that history does not have, and ids, seq and delivery order agree on every node. The
// sender's answer (REST 201, WebSocket ack) comes after the commit. Redis is not needed to send:
// a committed message waits in the outbox until Redis is back. Slow mode is read from the
// sender's latest message in Postgres, under the same lock.
// Pins, deletions and settings take the same lock and go out the same way, in their place.
import type pg from 'pg';
import { assertMay, roleMay } from '../access.js';
import { withTransaction } from '../db/pool.js';
import { AppError, badRequest, notFound } from '../errors.js';
import type { Principal } from '../principal.js';
import { isFkViolation } from '../events/caller.js';
import type { ServiceDeps } from '../realtime/deps.js';
import { CHAT_TEXT_MAX, messageId, type ChatMessageView, type ChatSettingsView } from '../realtime/protocol.js';
import * as repo from './repo.js';
import type { ChatMessage, ChatSettings } from './repo.js';

export interface SettingsPatch {
  enabled?: boolean;
  slowModeSeconds?: number;
  attendeesOnly?: boolean;
}

export interface ChatService {
  /** `created` is false when this clientMsgId was sent before: the original comes back, nothing is broadcast. */
  send(asker: Principal, input: { sessionId: string; text: string; clientMsgId?: string }): Promise<{ message: ChatMessageView; created: boolean }>;
  /** Oldest first; `more` says whether another page lies beyond (after: newer; otherwise: older). */
  history(asker: Principal, sessionId: string, o: { after?: string; before?: string; limit: number }): Promise<{ items: ChatMessageView[]; more: boolean; pinned: ChatMessageView | null; lastSeq: number }>;
  pin(asker: Principal, id: string, pinned: boolean): Promise<ChatMessageView>;
  /** Staff, or the message's author. */
  remove(asker: Principal, id: string): Promise<void>;
  settings(asker: Principal, sessionId: string): Promise<ChatSettingsView>;
  updateSettings(asker: Principal, sessionId: string, patch: SettingsPatch): Promise<ChatSettingsView>;
}

export const messageView = (m: ChatMessage): ChatMessageView => ({
  id: m.id,
  sessionId: m.sessionId,
  seq: m.seq,
  user: m.user,
  text: m.text,
  clientMsgId: m.clientMsgId,
  createdAt: m.createdAt.toISOString(),
  pinned: m.pinned,
});

const settingsView = (s: ChatSettings): ChatSettingsView => ({ sessionId: s.sessionId, enabled: s.enabled, slowModeSeconds: s.slowModeSeconds, attendeesOnly: s.attendeesOnly });
const defaults = (sessionId: string): ChatSettings => ({ sessionId, enabled: true, slowModeSeconds: 0, attendeesOnly: false });

/** The same rules REST's schema and the WebSocket protocol apply, for callers that skip both. */
function checkText(text: string): void {
  const problem = text.length > CHAT_TEXT_MAX ? `text is at most ${CHAT_TEXT_MAX} characters` : text.trim().length === 0 ? 'text must not be empty' : null;
  if (problem) throw badRequest('The message is not valid.', { errors: [{ field: 'text', message: problem }] });
}

export function createChatService(deps: ServiceDeps): ChatService {
  const { db, outbox, events, log, moderation } = deps;

  // Slow mode: sends to a session are serialised by its chat row lock, so reading the sender's
  // latest message and inserting the next cannot race, on any node; a refused or failed send
  // leaves nothing behind, and a changed setting applies to the message already there.
  async function checkSlowMode(client: pg.PoolClient, o: { sessionId: string; userId: string; seconds: number }): Promise<void> {
    const left = await repo.slowModeLeft(client, o);
    if (left > 0) {
      const wait = Math.max(1, Math.ceil(left));
      throw new AppError(429, 'slow_mode', `Slow mode is on: one message every ${o.seconds} s; wait ${wait} s.`, { retryAfterSeconds: wait });
    }
  }

  /**
   * Runs a chat write under the session's chat row lock; a session deleted meanwhile is a 404.
   * Frames it wrote to the outbox go out once it has committed.
   */
  async function underLock<T>(sessionId: string, fn: (client: pg.PoolClient, settings: ChatSettings) => Promise<T>): Promise<T> {
    try {
      const result = await withTransaction(db, async (client) => {
        await repo.ensureChatRow(client, sessionId);
        const settings = await repo.lockChat(client, sessionId);
        if (!settings) throw notFound('The session');
        return fn(client, settings);
      });
      outbox.kick(sessionId);
      return result;
    } catch (err) {
      if (isFkViolation(err)) throw notFound('The session');
      throw err;
    }
  }

  /** The message (not deleted) and its session, as far as the asker may see them. */
  async function visibleMessage(asker: Principal, id: string) {
    if (!messageId.safeParse(id).success) throw notFound('The message');
    const message = await repo.findMessage(db, id);
    if (!message || message.deleted) throw notFound('The message');
    await events.session(asker, message.sessionId);
    return message;
  }

  return {
    async send(asker, input) {
      assertMay(asker, 'chat.send');
      checkText(input.text);
      await moderation.take(asker, 'chat'); // first: a flood is refused before any query
      const { event, session } = await events.session(asker, input.sessionId);
      const sessionId = session.id;
      await moderation.assertMayPost(asker, event.id, 'chat');
      const clientMsgId = input.clientMsgId ?? null;
      if (clientMsgId) {
        const prior = await repo.findByClientMsgId(db, { sessionId, userId: asker.id, clientMsgId });
        if (prior) return { message: messageView(prior), created: false };
      }
      const bypass = roleMay(asker.role, 'chat.bypassLimits');
      try {
        const sent = await withTransaction(db, async (client) => {
          await repo.ensureChatRow(client, sessionId);
          const settings = await repo.countMessage(client, sessionId);
          if (!settings) throw notFound('The session');
          if (!bypass) {
            if (!settings.enabled) throw new AppError(403, 'chat_disabled', 'Chat is switched off in this session.');
            if (settings.attendeesOnly && !event.joined && !event.speaking) throw new AppError(403, 'attendees_only', 'Only attendees of this event may chat in this session; join the event first.');
            if (settings.slowModeSeconds > 0) await checkSlowMode(client, { sessionId, userId: asker.id, seconds: settings.slowModeSeconds });
          }
          const inserted = await repo.insertMessage(client, { sessionId, seq: settings.seq, userId: asker.id, text: input.text, clientMsgId });
          if (!inserted) {
            // the same clientMsgId raced in from another socket: answer the one that won
            await repo.countMessage(client, sessionId, -1);
            const prior = await repo.findByClientMsgId(client, { sessionId, userId: asker.id, clientMsgId: clientMsgId! });
            return { message: messageView(prior!), created: false };
          }
          const message = messageView(inserted);
          await outbox.add(client, sessionId, { type: 'chat:message', message });
          return { message, created: true };
        });
        if (sent.created) outbox.kick(sessionId);
        return sent;
      } catch (err) {
        if (isFkViolation(err)) throw notFound('The session');
        throw err;
      }
    },

    async history(asker, sessionId, o) {
      assertMay(asker, 'chat.read');
      const { event } = await events.session(asker, sessionId);
      await moderation.assertMayRead(asker, event.id);
      // read before the messages: every message numbered up to here is committed and listed below
      const lastSeq = await repo.lastSeq(db, sessionId);
      const rows = await repo.listMessages(db, { sessionId, after: o.after, before: o.before, limit: o.limit + 1 });
      const more = rows.length > o.limit;
      // after: the extra row is the newest; otherwise the oldest
      const items = !more ? rows : o.after !== undefined ? rows.slice(0, o.limit) : rows.slice(1);
      const pinned = await repo.findPinned(db, sessionId);
      return { items: items.map(messageView), more, pinned: pinned && messageView(pinned), lastSeq };
    },

    async pin(asker, id, pinned) {
      assertMay(asker, 'chat.pin');
      const found = await visibleMessage(asker, id);
      return underLock(found.sessionId, async (client) => {
        const current = await repo.findMessage(client, id);
        if (!current || current.deleted) throw notFound('The message');
        if (current.pinned === pinned) return messageView(current);
        if (pinned) await repo.unpinOthers(client, current.sessionId, id);
        const changed = await repo.setPinned(client, { id, pinned, by: asker.id });
        if (!changed) throw notFound('The message');
        const view = messageView(changed);
        await outbox.add(client, current.sessionId, { type: 'chat:pinned', sessionId: current.sessionId, message: pinned ? view : null });
        log.info({ sessionId: current.sessionId, messageId: id, by: asker.id }, pinned ? 'Pinned a chat message.' : 'Unpinned a chat message.');
        return view;
      });
    },

    async remove(asker, id) {
      if (!messageId.safeParse(id).success) throw notFound('The message'); // REST and WS check the form first
      // who may comes before whether it is still there: someone else's deleted message is a 403
      const found = await repo.findMessage(db, id);
      if (!found) throw notFound('The message');
      await events.session(asker, found.sessionId);
      assertMay(asker, 'chat.delete', { author: found.user?.id === asker.id });
      if (found.deleted) throw notFound('The message');
      await underLock(found.sessionId, async (client) => {
        const current = await repo.findMessage(client, id);
        if (!current || !(await repo.markDeleted(client, { id, by: asker.id }))) throw notFound('The message');
        await outbox.add(client, current.sessionId, { type: 'chat:deleted', sessionId: current.sessionId, messageId: id });
        if (current.pinned) await outbox.add(client, current.sessionId, { type: 'chat:pinned', sessionId: current.sessionId, message: null });
      });
      log.info({ sessionId: found.sessionId, messageId: id, by: asker.id }, 'Deleted a chat message.');
    },

    async settings(asker, sessionId) {
      assertMay(asker, 'chat.read');
      const { session } = await events.session(asker, sessionId);
      return settingsView((await repo.findSettings(db, session.id)) ?? defaults(session.id));
    },

    async updateSettings(asker, sessionId, patch) {
      assertMay(asker, 'chat.settings');
      const { session } = await events.session(asker, sessionId);
      const next = await underLock(session.id, async (client, current) => {
        const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as SettingsPatch;
        const saved = settingsView(await repo.updateSettings(client, { ...current, ...defined }));
        await outbox.add(client, session.id, { type: 'chat:settings', settings: saved });
        return saved;
      });
      log.info({ by: asker.id, ...next }, 'Changed the chat settings of a session.');
      return next;
    },
  };
}
