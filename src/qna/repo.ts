// Raw SQL for questions and their upvotes: one function per statement, db first.
import type { Db } from '../db/pool.js';

export interface QuestionRow {
  id: string;
  sessionId: string;
  user: { id: string; name: string } | null;
  text: string;
  upvotes: number;
  createdAt: Date;
  answeredAt: Date | null;
  upvotedByMe?: boolean;
}

type Raw = Omit<QuestionRow, 'user'> & { userId: string | null; userName: string | null };

const COLUMNS = `q.id, q.session_id AS "sessionId", q.user_id AS "userId", u.name AS "userName", q.text, q.upvotes,
  q.created_at AS "createdAt", q.answered_at AS "answeredAt"`;

const toRow = ({ userId, userName, ...r }: Raw): QuestionRow => ({ ...r, user: userId ? { id: userId, name: userName ?? '' } : null });

export async function findQuestion(db: Db, id: string): Promise<QuestionRow | null> {
  const { rows } = await db.query<Raw>(`SELECT ${COLUMNS} FROM questions q LEFT JOIN users u ON u.id = q.user_id WHERE q.id = $1`, [id]);
  return rows[0] ? toRow(rows[0]) : null;
}

export async function insertQuestion(db: Db, o: { sessionId: string; userId: string; text: string }): Promise<QuestionRow> {
  const { rows } = await db.query<Raw>(
    `WITH q AS (INSERT INTO questions (session_id, user_id, text) VALUES ($1, $2, $3) RETURNING *)
     SELECT ${COLUMNS} FROM q LEFT JOIN users u ON u.id = q.user_id`,
    [o.sessionId, o.userId, o.text],
  );
  return toRow(rows[0]!);
}

/** The user's one upvote of the question; false when they had already upvoted it. */
export async function insertUpvote(db: Db, questionId: string, userId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO question_upvotes (question_id, user_id) VALUES ($1, $2) ON CONFLICT (question_id, user_id) DO NOTHING`,
    [questionId, userId],
  );
  return (rowCount ?? 0) > 0;
}

/** Counts one more upvote; the row stays locked until the transaction ends, so counts go out in order. */
export async function countUpvote(db: Db, questionId: string): Promise<number | null> {
  const { rows } = await db.query<{ upvotes: number }>(`UPDATE questions SET upvotes = upvotes + 1 WHERE id = $1 RETURNING upvotes`, [questionId]);
  return rows[0]?.upvotes ?? null;
}

export async function hasUpvoted(db: Db, questionId: string, userId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM question_upvotes WHERE question_id = $1 AND user_id = $2`, [questionId, userId]);
  return (rowCount ?? 0) > 0;
}

/** Marks the question answered; null when it already was (or is gone). */
export async function markAnswered(db: Db, id: string, by: string): Promise<QuestionRow | null> {
  const { rows } = await db.query<Raw>(
    `WITH q AS (UPDATE questions SET answered_at = now(), answered_by = $2 WHERE id = $1 AND answered_at IS NULL RETURNING *)
     SELECT ${COLUMNS} FROM q LEFT JOIN users u ON u.id = q.user_id`,
    [id, by],
  );
  return rows[0] ? toRow(rows[0]) : null;
}

export type QuestionOrder = 'top' | 'new';

/**
 * The session's questions with whether `userId` upvoted each. `top`: most upvoted first, then
 * oldest first; `new`: newest first. `after` is the previous page's last item's sort key.
 */
export async function listQuestions(
  db: Db,
  o: { sessionId: string; userId: string; order: QuestionOrder; limit: number; after?: { upvotes: number; at: Date; id: string } },
): Promise<QuestionRow[]> {
  const top = o.order === 'top';
  const { rows } = await db.query<Raw & { upvotedByMe: boolean }>(
    `SELECT ${COLUMNS}, EXISTS (SELECT 1 FROM question_upvotes qu WHERE qu.question_id = q.id AND qu.user_id = $2) AS "upvotedByMe"
     FROM questions q LEFT JOIN users u ON u.id = q.user_id
     WHERE q.session_id = $1 AND ${
       top
         ? `($4::timestamptz IS NULL OR (-q.upvotes, date_trunc('milliseconds', q.created_at), q.id) > (-$6::int, $4, $5::uuid))`
         : `($4::timestamptz IS NULL OR (date_trunc('milliseconds', q.created_at), q.id) < ($4, $5::uuid))`
     }
     ORDER BY ${top ? `q.upvotes DESC, date_trunc('milliseconds', q.created_at), q.id` : `date_trunc('milliseconds', q.created_at) DESC, q.id DESC`}
     LIMIT $3`,
    [o.sessionId, o.userId, o.limit, o.after?.at ?? null, o.after?.id ?? null, ...(top ? [o.after?.upvotes ?? 0] : [])],
  );
  return rows.map(toRow);
}
