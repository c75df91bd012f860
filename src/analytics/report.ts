// The admin's user activity report: one row per user with what they did (events joined, sessions
// watched, chat, votes, questions, upvotes) and when they were last seen, as JSON or CSV.
// One statement: each activity table is aggregated once per user (GROUP BY in a CTE) and
// LEFT JOINed to users, so 20,000 users cost a few hash joins, not 20,000 subqueries.
import { z } from 'zod';
import type { Role } from '../access.js';
import type { Db } from '../db/pool.js';
import { isoDate } from '../http/schemas.js';
import { roleSchema } from '../users/view.js';

export const activityRowSchema = z.object({
  userId: z.uuid(),
  email: z.string(),
  name: z.string(),
  role: roleSchema,
  eventsJoined: z.number().int().describe('Events the user attends.'),
  sessionsWatched: z.number().int().describe('Distinct sessions the user was seen watching.'),
  watchSeconds: z.number().int().describe('Time spent watching, in seconds.'),
  messages: z.number().int().describe('Chat messages sent and not deleted.'),
  votes: z.number().int().describe('Polls voted in.'),
  questions: z.number().int().describe('Questions asked.'),
  upvotes: z.number().int().describe('Questions upvoted.'),
  lastSeenAt: isoDate.nullable().describe('Latest sign-in activity, watching minute, message, vote, question or upvote.'),
});

export type ActivityRow = z.output<typeof activityRowSchema>;

interface ReportRow {
  id: string;
  email: string;
  name: string;
  role: Role;
  events_joined: number;
  sessions_watched: number;
  watch_seconds: string; // bigint
  messages: number;
  votes: number;
  questions: number;
  upvotes: number;
  last_seen_at: Date | null;
}

// $1: the event, or null for all. Every activity CTE is restricted to the event's sessions.
// Deleted messages are not counted but still say when the user was last seen.
const REPORT_SQL = `
WITH sessions AS (
  SELECT id FROM event_sessions WHERE $1::uuid IS NULL OR event_id = $1
),
joined AS (
  SELECT user_id, count(*)::int AS n FROM event_attendees
  WHERE $1::uuid IS NULL OR event_id = $1 GROUP BY user_id
),
watched AS (
  SELECT v.user_id, count(DISTINCT v.session_id)::int AS sessions, sum(v.watch_ms) AS ms,
         LEAST(max(v.minute) + interval '1 minute', now()) AS last_at
  FROM viewer_minutes v JOIN sessions s ON s.id = v.session_id GROUP BY v.user_id
),
chatted AS (
  SELECT m.user_id, (count(*) FILTER (WHERE m.deleted_at IS NULL))::int AS n, max(m.created_at) AS last_at
  FROM chat_messages m JOIN sessions s ON s.id = m.session_id WHERE m.user_id IS NOT NULL GROUP BY m.user_id
),
voted AS (
  SELECT pv.user_id, count(*)::int AS n, max(pv.voted_at) AS last_at
  FROM poll_votes pv JOIN polls p ON p.id = pv.poll_id JOIN sessions s ON s.id = p.session_id GROUP BY pv.user_id
),
asked AS (
  SELECT q.user_id, count(*)::int AS n, max(q.created_at) AS last_at
  FROM questions q JOIN sessions s ON s.id = q.session_id WHERE q.user_id IS NOT NULL GROUP BY q.user_id
),
upvoted AS (
  SELECT qu.user_id, count(*)::int AS n, max(qu.created_at) AS last_at
  FROM question_upvotes qu JOIN questions q ON q.id = qu.question_id JOIN sessions s ON s.id = q.session_id GROUP BY qu.user_id
),
devices_seen AS (
  SELECT user_id, max(last_seen_at) AS last_at FROM devices GROUP BY user_id
)
SELECT u.id, u.email, u.name, u.role,
       COALESCE(j.n, 0) AS events_joined,
       COALESCE(w.sessions, 0) AS sessions_watched,
       COALESCE(round(w.ms / 1000.0), 0)::bigint AS watch_seconds,
       COALESCE(c.n, 0) AS messages,
       COALESCE(v.n, 0) AS votes,
       COALESCE(a.n, 0) AS questions,
       COALESCE(up.n, 0) AS upvotes,
       GREATEST(d.last_at, w.last_at, c.last_at, v.last_at, a.last_at, up.last_at) AS last_seen_at
FROM users u
LEFT JOIN joined j ON j.user_id = u.id
LEFT JOIN watched w ON w.user_id = u.id
LEFT JOIN chatted c ON c.user_id = u.id
LEFT JOIN voted v ON v.user_id = u.id
LEFT JOIN asked a ON a.user_id = u.id
LEFT JOIN upvoted up ON up.user_id = u.id
LEFT JOIN devices_seen d ON d.user_id = u.id
WHERE $1::uuid IS NULL
   OR j.user_id IS NOT NULL OR w.user_id IS NOT NULL OR c.user_id IS NOT NULL
   OR v.user_id IS NOT NULL OR a.user_id IS NOT NULL OR up.user_id IS NOT NULL
ORDER BY lower(u.email), u.id`;

/**
 * One row per user, by email. With an eventId: only the users who joined that event or were
 * active in its sessions, and every count is the event's. lastSeenAt also takes the user's
 * device activity (sign-ins are not tied to an event).
 */
export async function userActivityReport(db: Db, o: { eventId?: string } = {}): Promise<ActivityRow[]> {
  const { rows } = await db.query<ReportRow>(REPORT_SQL, [o.eventId ?? null]);
  return rows.map((r) => ({
    userId: r.id,
    email: r.email,
    name: r.name,
    role: r.role,
    eventsJoined: r.events_joined,
    sessionsWatched: r.sessions_watched,
    watchSeconds: Number(r.watch_seconds),
    messages: r.messages,
    votes: r.votes,
    questions: r.questions,
    upvotes: r.upvotes,
    lastSeenAt: r.last_seen_at ? r.last_seen_at.toISOString() : null,
  }));
}

const CSV_HEADER = [
  'user_id', 'email', 'name', 'role', 'events_joined', 'sessions_watched', 'watch_seconds',
  'messages', 'votes', 'questions', 'upvotes', 'last_seen_at',
];

/**
 * A spreadsheet would run a cell starting with one of these as a formula (=HYPERLINK(…) and
 * friends, OWASP "CSV injection"): such text cells get a leading apostrophe.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

function textCell(value: string): string {
  const guarded = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(guarded) ? `"${guarded.replaceAll('"', '""')}"` : guarded;
}

/** RFC 4180 CSV of the report: a header, one record per row, CRLF after every record. */
export function activityCsv(rows: ActivityRow[]): string {
  const lines = [CSV_HEADER.join(',')];
  for (const r of rows) {
    const cells = [
      textCell(r.userId),
      textCell(r.email),
      textCell(r.name),
      textCell(r.role),
      String(r.eventsJoined),
      String(r.sessionsWatched),
      String(r.watchSeconds),
      String(r.messages),
      String(r.votes),
      String(r.questions),
      String(r.upvotes),
      r.lastSeenAt === null ? '' : textCell(r.lastSeenAt),
    ];
    lines.push(cells.join(','));
  }
  return lines.join('\r\n') + '\r\n';
}
