// Raw SQL for polls, their options and votes: one function per statement, db first.
import type { Db } from '../db/pool.js';

export interface PollRow {
  id: string;
  sessionId: string;
  question: string;
  createdAt: Date;
  closedAt: Date | null;
}

export interface OptionCount {
  pollId: string;
  id: string;
  text: string;
  votes: number;
}

const POLL_COLUMNS = `id, session_id AS "sessionId", question, created_at AS "createdAt", closed_at AS "closedAt"`;

export async function findPoll(db: Db, id: string): Promise<PollRow | null> {
  const { rows } = await db.query<PollRow>(`SELECT ${POLL_COLUMNS} FROM polls WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

/**
 * Locks the poll row for the rest of the transaction. Voters take SHARE (many at once); closing
 * and the vote broadcaster take NO KEY UPDATE, so a close waits for votes in flight and a vote
 * after it sees the poll closed, and broadcasts are taken one at a time across nodes.
 */
export async function lockPoll(db: Db, id: string, mode: 'SHARE' | 'NO KEY UPDATE'): Promise<PollRow | null> {
  const { rows } = await db.query<PollRow>(`SELECT ${POLL_COLUMNS} FROM polls WHERE id = $1 FOR ${mode === 'SHARE' ? 'SHARE' : 'NO KEY UPDATE'}`, [id]);
  return rows[0] ?? null;
}

export async function insertPoll(db: Db, o: { sessionId: string; question: string; createdBy: string }): Promise<PollRow> {
  const { rows } = await db.query<PollRow>(
    `INSERT INTO polls (session_id, question, created_by) VALUES ($1, $2, $3) RETURNING ${POLL_COLUMNS}`,
    [o.sessionId, o.question, o.createdBy],
  );
  return rows[0]!;
}

/** Inserts the options in the order given (position 1, 2, …). */
export async function insertOptions(db: Db, pollId: string, texts: string[]): Promise<void> {
  await db.query(
    `INSERT INTO poll_options (poll_id, position, text)
     SELECT $1, t.position, t.text FROM unnest($2::text[]) WITH ORDINALITY AS t (text, position)`,
    [pollId, texts],
  );
}

export async function isOptionOf(db: Db, pollId: string, optionId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM poll_options WHERE id = $1 AND poll_id = $2`, [optionId, pollId]);
  return (rowCount ?? 0) > 0;
}

/**
 * The user's one vote in the poll (the primary key makes it one, however many arrive at once);
 * voting again for another option moves it. Returns whether anything changed.
 */
export async function upsertVote(db: Db, o: { pollId: string; userId: string; optionId: string }): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO poll_votes (poll_id, user_id, option_id) VALUES ($1, $2, $3)
     ON CONFLICT (poll_id, user_id) DO UPDATE SET option_id = EXCLUDED.option_id, voted_at = now()
       WHERE poll_votes.option_id <> EXCLUDED.option_id`,
    [o.pollId, o.userId, o.optionId],
  );
  return (rowCount ?? 0) > 0;
}

export async function closePoll(db: Db, id: string): Promise<PollRow | null> {
  const { rows } = await db.query<PollRow>(`UPDATE polls SET closed_at = now() WHERE id = $1 AND closed_at IS NULL RETURNING ${POLL_COLUMNS}`, [id]);
  return rows[0] ?? null;
}

/** Every option of these polls with its vote count, counted from the votes themselves. */
export async function optionCounts(db: Db, pollIds: string[]): Promise<OptionCount[]> {
  if (pollIds.length === 0) return [];
  const { rows } = await db.query<OptionCount>(
    `SELECT o.poll_id AS "pollId", o.id, o.text, coalesce(v.votes, 0)::int AS votes
     FROM poll_options o
     LEFT JOIN (SELECT option_id, count(*) AS votes FROM poll_votes WHERE poll_id = ANY($1::uuid[]) GROUP BY option_id) v ON v.option_id = o.id
     WHERE o.poll_id = ANY($1::uuid[])
     ORDER BY o.poll_id, o.position`,
    [pollIds],
  );
  return rows;
}

/** The option this user voted for in each of these polls. */
export async function votesOf(db: Db, pollIds: string[], userId: string): Promise<Map<string, string>> {
  if (pollIds.length === 0) return new Map();
  const { rows } = await db.query<{ pollId: string; optionId: string }>(
    `SELECT poll_id AS "pollId", option_id AS "optionId" FROM poll_votes WHERE poll_id = ANY($1::uuid[]) AND user_id = $2`,
    [pollIds, userId],
  );
  return new Map(rows.map((r) => [r.pollId, r.optionId]));
}

/** The session's polls in the order they were created; `after` is the previous page's last (createdAt, id). */
export async function listPolls(db: Db, sessionId: string, o: { limit: number; after?: { at: Date; id: string } }): Promise<PollRow[]> {
  const { rows } = await db.query<PollRow>(
    `SELECT ${POLL_COLUMNS} FROM polls
     WHERE session_id = $1 AND ($3::timestamptz IS NULL OR (date_trunc('milliseconds', created_at), id) > ($3, $4::uuid))
     ORDER BY date_trunc('milliseconds', created_at), id LIMIT $2`,
    [sessionId, o.limit, o.after?.at ?? null, o.after?.id ?? null],
  );
  return rows;
}
