// Raw SQL for chat: one function per statement, db first so they compose in a transaction.
// A session's row in session_chat holds its settings and is the lock that orders its messages,
// pins and deletions (see migrations/003_engagement.sql), and holds the session's last message
// number, `seq` (migrations/005_delivery_seq.sql).
import type { Db } from '../db/pool.js';

export interface ChatSettings {
  sessionId: string;
  enabled: boolean;
  slowModeSeconds: number;
  attendeesOnly: boolean;
}

export interface ChatMessage {
  /** bigserial, kept as a decimal string end to end. */
  id: string;
  sessionId: string;
  /** The message's number in its session: 1, 2, 3, … in commit order, no gaps among committed messages. */
  seq: number;
  user: { id: string; name: string } | null;
  text: string;
  clientMsgId: string | null;
  createdAt: Date;
  pinned: boolean;
  deleted: boolean;
}

interface SettingsRow {
  session_id: string;
  enabled: boolean;
  slow_mode_seconds: number;
  attendees_only: boolean;
}

const toSettings = (r: SettingsRow): ChatSettings => ({
  sessionId: r.session_id,
  enabled: r.enabled,
  slowModeSeconds: r.slow_mode_seconds,
  attendeesOnly: r.attendees_only,
});

interface MessageRow {
  id: string;
  session_id: string;
  seq: string;
  user_id: string | null;
  user_name: string | null;
  text: string;
  client_msg_id: string | null;
  created_at: Date;
  pinned: boolean;
  deleted: boolean;
}

const toMessage = (r: MessageRow): ChatMessage => ({
  id: r.id,
  sessionId: r.session_id,
  seq: Number(r.seq),
  user: r.user_id ? { id: r.user_id, name: r.user_name ?? '' } : null,
  text: r.text,
  clientMsgId: r.client_msg_id,
  createdAt: r.created_at,
  pinned: r.pinned,
  deleted: r.deleted,
});

/** m: chat_messages, u: users (LEFT JOIN). */
const MESSAGE_COLUMNS = `m.id::text AS id, m.session_id, m.seq::text AS seq, m.user_id, u.name AS user_name, m.text, m.client_msg_id, m.created_at,
  (m.pinned_at IS NOT NULL) AS pinned, (m.deleted_at IS NOT NULL) AS deleted`;

/** Makes sure the session has its chat row (settings at their defaults). */
export async function ensureChatRow(db: Db, sessionId: string): Promise<void> {
  await db.query({ name: 'chat-ensure-row', text: `INSERT INTO session_chat (session_id) VALUES ($1) ON CONFLICT DO NOTHING`, values: [sessionId] });
}

/**
 * Counts one more message, takes the session's next message number (seq) and locks the session's
 * chat row until the transaction ends: this lock orders a session's messages (ids, seq and commit
 * order agree). `by` -1 gives the number back (a send that turned out to be a repeat).
 */
export async function countMessage(db: Db, sessionId: string, by = 1): Promise<(ChatSettings & { seq: number }) | null> {
  const { rows } = await db.query<SettingsRow & { last_seq: string }>({
    name: 'chat-count-message',
    text: `UPDATE session_chat SET message_count = message_count + $2, last_seq = last_seq + $2 WHERE session_id = $1
           RETURNING session_id, enabled, slow_mode_seconds, attendees_only, last_seq`,
    values: [sessionId, by],
  });
  return rows[0] ? { ...toSettings(rows[0]), seq: Number(rows[0].last_seq) } : null;
}

/** The number of the session's latest committed message (0: none yet). */
export async function lastSeq(db: Db, sessionId: string): Promise<number> {
  const { rows } = await db.query<{ last_seq: string }>(`SELECT last_seq FROM session_chat WHERE session_id = $1`, [sessionId]);
  return rows[0] ? Number(rows[0].last_seq) : 0;
}

/**
 * Seconds left before this user may send again in the session under slow mode (0: now), from
 * their latest message and the database's clock; deleted messages count (they were sent).
 */
export async function slowModeLeft(db: Db, o: { sessionId: string; userId: string; seconds: number }): Promise<number> {
  const { rows } = await db.query<{ left: number }>({
    name: 'chat-slow-mode-left',
    text: `SELECT greatest(0, extract(epoch FROM (created_at + make_interval(secs => $3) - now())))::float8 AS left
           FROM chat_messages WHERE session_id = $1 AND user_id = $2 ORDER BY id DESC LIMIT 1`,
    values: [o.sessionId, o.userId, o.seconds],
  });
  return rows[0]?.left ?? 0;
}

/** Locks the session's chat row (pins, deletions and settings take their place in its order). */
export async function lockChat(db: Db, sessionId: string): Promise<ChatSettings | null> {
  const { rows } = await db.query<SettingsRow>(
    `SELECT session_id, enabled, slow_mode_seconds, attendees_only FROM session_chat WHERE session_id = $1 FOR UPDATE`,
    [sessionId],
  );
  return rows[0] ? toSettings(rows[0]) : null;
}

export async function findSettings(db: Db, sessionId: string): Promise<ChatSettings | null> {
  const { rows } = await db.query<SettingsRow>(
    `SELECT session_id, enabled, slow_mode_seconds, attendees_only FROM session_chat WHERE session_id = $1`,
    [sessionId],
  );
  return rows[0] ? toSettings(rows[0]) : null;
}

export async function updateSettings(db: Db, s: ChatSettings): Promise<ChatSettings> {
  const { rows } = await db.query<SettingsRow>(
    `UPDATE session_chat SET enabled = $2, slow_mode_seconds = $3, attendees_only = $4, updated_at = now()
     WHERE session_id = $1 RETURNING session_id, enabled, slow_mode_seconds, attendees_only`,
    [s.sessionId, s.enabled, s.slowModeSeconds, s.attendeesOnly],
  );
  return toSettings(rows[0]!);
}

/** Inserts a message; null when this user already sent one with the same clientMsgId here. */
export async function insertMessage(db: Db, m: { sessionId: string; seq: number; userId: string; text: string; clientMsgId: string | null }): Promise<ChatMessage | null> {
  const { rows } = await db.query<MessageRow>({
    name: 'chat-insert-message',
    text: `WITH m AS (
             INSERT INTO chat_messages (session_id, user_id, text, client_msg_id, seq) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (session_id, user_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING
             RETURNING *
           )
           SELECT ${MESSAGE_COLUMNS} FROM m LEFT JOIN users u ON u.id = m.user_id`,
    values: [m.sessionId, m.userId, m.text, m.clientMsgId, m.seq],
  });
  return rows[0] ? toMessage(rows[0]) : null;
}

/** The message this user sent earlier with this clientMsgId in the session. */
export async function findByClientMsgId(db: Db, o: { sessionId: string; userId: string; clientMsgId: string }): Promise<ChatMessage | null> {
  const { rows } = await db.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN users u ON u.id = m.user_id
     WHERE m.session_id = $1 AND m.user_id = $2 AND m.client_msg_id = $3`,
    [o.sessionId, o.userId, o.clientMsgId],
  );
  return rows[0] ? toMessage(rows[0]) : null;
}

/** One message, deleted or not. */
export async function findMessage(db: Db, id: string): Promise<ChatMessage | null> {
  const { rows } = await db.query<MessageRow>(`SELECT ${MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN users u ON u.id = m.user_id WHERE m.id = $1`, [id]);
  return rows[0] ? toMessage(rows[0]) : null;
}

/**
 * Not-deleted messages of a session, oldest first: the `limit` after `after`, the `limit` just
 * before `before`, or the latest `limit`.
 */
export async function listMessages(db: Db, o: { sessionId: string; after?: string; before?: string; limit: number }): Promise<ChatMessage[]> {
  const where = `m.session_id = $1 AND m.deleted_at IS NULL`;
  if (o.after !== undefined) {
    const { rows } = await db.query<MessageRow>({
      name: 'chat-list-after',
      text: `SELECT ${MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN users u ON u.id = m.user_id
             WHERE ${where} AND m.id > $2 ORDER BY m.id LIMIT $3`,
      values: [o.sessionId, o.after, o.limit],
    });
    return rows.map(toMessage);
  }
  const { rows } = await db.query<MessageRow>({
    name: 'chat-list-before',
    text: `SELECT * FROM (
             SELECT ${MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN users u ON u.id = m.user_id
             WHERE ${where} AND ($2::bigint IS NULL OR m.id < $2) ORDER BY m.id DESC LIMIT $3
           ) latest ORDER BY id::bigint`,
    values: [o.sessionId, o.before ?? null, o.limit],
  });
  return rows.map(toMessage);
}

/** The session's pinned message, if any. */
export async function findPinned(db: Db, sessionId: string): Promise<ChatMessage | null> {
  const { rows } = await db.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN users u ON u.id = m.user_id
     WHERE m.session_id = $1 AND m.pinned_at IS NOT NULL AND m.deleted_at IS NULL`,
    [sessionId],
  );
  return rows[0] ? toMessage(rows[0]) : null;
}

/** Unpins every pinned message of the session except `keep`. */
export async function unpinOthers(db: Db, sessionId: string, keep: string | null): Promise<void> {
  await db.query(
    `UPDATE chat_messages SET pinned_at = NULL, pinned_by = NULL
     WHERE session_id = $1 AND pinned_at IS NOT NULL AND ($2::bigint IS NULL OR id <> $2)`,
    [sessionId, keep],
  );
}

/** Pins or unpins a not-deleted message; null when it is gone. */
export async function setPinned(db: Db, o: { id: string; pinned: boolean; by: string }): Promise<ChatMessage | null> {
  const { rows } = await db.query<MessageRow>(
    `WITH m AS (
       UPDATE chat_messages SET pinned_at = CASE WHEN $2 THEN coalesce(pinned_at, now()) END, pinned_by = CASE WHEN $2 THEN $3::uuid END
       WHERE id = $1 AND deleted_at IS NULL RETURNING *
     )
     SELECT ${MESSAGE_COLUMNS} FROM m LEFT JOIN users u ON u.id = m.user_id`,
    [o.id, o.pinned, o.by],
  );
  return rows[0] ? toMessage(rows[0]) : null;
}

/** Marks a message deleted (and unpinned); false when it already was. */
export async function markDeleted(db: Db, o: { id: string; by: string }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE chat_messages SET deleted_at = now(), deleted_by = $2, pinned_at = NULL, pinned_by = NULL WHERE id = $1 AND deleted_at IS NULL`,
    [o.id, o.by],
  );
  return rowCount === 1;
}
