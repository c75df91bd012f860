// The user activity report against real Postgres: exact counts, watch time and last-seen times
// from fixture rows, the event filter, the CSV (read back with our own CSV reader, formula cells
// defused), and 20,000 users in well under the time an admin waits.
import t, { type Test } from 'tap';
import type pg from 'pg';
import { testDatabase } from '../testing/harness.js';
import { parseCsv } from '../users/csv.js';
import { activityCsv, activityRowSchema, userActivityReport, type ActivityRow } from './report.js';

const { pool } = await testDatabase(t);

async function one<T = { id: string }>(db: pg.Pool, sql: string, params: unknown[] = []): Promise<T> {
  return (await db.query(sql, params)).rows[0] as T;
}

const user = async (email: string, name: string, role = 'attendee') =>
  (await one(pool, `INSERT INTO users (email, name, role) VALUES ($1, $2, $3) RETURNING id`, [email, name, role])).id;
const event = async (title: string) =>
  (await one(pool, `INSERT INTO events (title, starts_at, ends_at) VALUES ($1, '2024-03-01T09:00Z', '2024-03-01T18:00Z') RETURNING id`, [title])).id;
const session = async (eventId: string, title: string) =>
  (await one(pool, `INSERT INTO event_sessions (event_id, title, starts_at, ends_at) VALUES ($1, $2, '2024-03-01T10:00Z', '2024-03-01T12:00Z') RETURNING id`, [eventId, title])).id;
const attend = (eventId: string, userId: string) => pool.query(`INSERT INTO event_attendees (event_id, user_id) VALUES ($1, $2)`, [eventId, userId]);
const watch = (sessionId: string, userId: string, minute: string, ms: number) =>
  pool.query(`INSERT INTO viewer_minutes (session_id, minute, user_id, watch_ms) VALUES ($1, $2, $3, $4)`, [sessionId, minute, userId, ms]);
const chat = (sessionId: string, userId: string | null, at: string, deleted = false) =>
  pool.query(`INSERT INTO chat_messages (session_id, user_id, text, created_at, deleted_at) VALUES ($1, $2, 'hi', $3, CASE WHEN $4 THEN $3::timestamptz END)`, [sessionId, userId, at, deleted]);
const poll = async (sessionId: string) => {
  const p = (await one(pool, `INSERT INTO polls (session_id, question) VALUES ($1, 'Which?') RETURNING id`, [sessionId])).id;
  const o = (await one(pool, `INSERT INTO poll_options (poll_id, position, text) VALUES ($1, 0, 'This') RETURNING id`, [p])).id;
  return { p, o };
};
const vote = (p: { p: string; o: string }, userId: string, at: string) =>
  pool.query(`INSERT INTO poll_votes (poll_id, user_id, option_id, voted_at) VALUES ($1, $2, $3, $4)`, [p.p, userId, p.o, at]);
const ask = async (sessionId: string, userId: string | null, at: string) =>
  (await one(pool, `INSERT INTO questions (session_id, user_id, text, created_at) VALUES ($1, $2, 'Why?', $3) RETURNING id`, [sessionId, userId, at])).id;
const upvote = (questionId: string, userId: string, at: string) =>
  pool.query(`INSERT INTO question_upvotes (question_id, user_id, created_at) VALUES ($1, $2, $3)`, [questionId, userId, at]);
const device = (userId: string, lastSeen: string) =>
  pool.query(`INSERT INTO devices (user_id, last_seen_at, expires_at) VALUES ($1, $2, $2::timestamptz + interval '7 days')`, [userId, lastSeen]);

// Names a spreadsheet would take for formulas, and one that needs every kind of CSV quoting.
const NAMES = {
  aaron: '\tTabbed',
  alice: 'Alice',
  bob: '-2+3 Bob',
  carol: '=HYPERLINK("x")',
  dave: 'Doe, "J"\r\nsecond line',
  eve: '@eve',
};
const aaron = await user('AARON@example.com', NAMES.aaron);
const alice = await user('alice@example.com', NAMES.alice, 'speaker');
const bob = await user('bob@example.com', NAMES.bob, 'moderator');
const carol = await user('carol@example.com', NAMES.carol);
const dave = await user('dave@example.com', NAMES.dave);
const eve = await user('eve@example.com', NAMES.eve, 'admin');

const e1 = await event('One');
const e2 = await event('Two');
const s1a = await session(e1, '1a');
const s1b = await session(e1, '1b');
const s2 = await session(e2, '2');

await attend(e1, alice);
await attend(e2, alice);
await attend(e1, bob);
await attend(e2, aaron);

await watch(s1a, alice, '2024-03-01T10:00Z', 30_000);
await watch(s1a, alice, '2024-03-01T10:01Z', 60_000);
await watch(s1b, alice, '2024-03-01T10:05Z', 1_500);
await watch(s2, alice, '2024-03-01T11:00Z', 600);
await watch(s1a, bob, '2024-03-01T10:00Z', 60_000);
await watch(s1a, dave, '2024-03-01T09:59Z', 20_000);
// a minute still running: last seen is capped at now, not the end of the minute
const daveMinuteAt = Date.now();
await pool.query(`INSERT INTO viewer_minutes (session_id, minute, user_id, watch_ms) VALUES ($1, date_trunc('minute', now()), $2, 45000)`, [s2, dave]);

await chat(s2, alice, '2024-03-01T11:02Z');
await chat(s1a, carol, '2024-03-01T10:40Z');
await chat(s1a, carol, '2024-03-01T10:41Z');
await chat(s1a, carol, '2024-03-01T10:50Z', true); // deleted: not counted, but carol was there
await chat(s1a, null, '2024-03-01T10:55Z'); // a deleted account's message

const p1 = await poll(s1a);
const p2 = await poll(s2);
await vote(p1, alice, '2024-03-01T10:10Z');
await vote(p2, alice, '2024-03-01T11:05Z');
await vote(p1, bob, '2024-03-01T10:15Z');

const q1 = await ask(s1a, bob, '2024-03-01T10:30Z');
await ask(s1a, null, '2024-03-01T10:31Z');
await upvote(q1, alice, '2024-03-01T10:20Z');
await upvote(q1, carol, '2024-03-01T10:45Z');

await device(alice, '2024-03-01T12:00Z');
await device(alice, '2024-02-01T12:00Z');
await device(bob, '2024-02-01T12:00Z');

const zero = { eventsJoined: 0, sessionsWatched: 0, watchSeconds: 0, messages: 0, votes: 0, questions: 0, upvotes: 0, lastSeenAt: null };
const row = (userId: string, email: string, name: string, role: string, r: Partial<ActivityRow>) => ({ userId, email, name, role, ...zero, ...r });

/**
 * Dave's last-seen time is "now" (the query's), not the end of his minute in progress (up to
 * a minute ahead); should that minute have ended since, its end. Everything else is exact.
 */
function checkNow(t: Test, rows: ActivityRow[], after: number) {
  const d = rows.find((r) => r.userId === dave)!;
  const at = Date.parse(d.lastSeenAt!);
  t.ok(at >= daveMinuteAt - 1000 && at <= after + 1000, `dave's minute in progress counts until now (${d.lastSeenAt})`);
  return rows.map((r) => (r.userId === dave ? { ...r, lastSeenAt: 'now' } : r));
}

t.test('every user, all events', async (t) => {
  const rows = await userActivityReport(pool);
  activityRowSchema.array().parse(rows);
  t.strictSame(checkNow(t, rows, Date.now()), [
    row(aaron, 'AARON@example.com', NAMES.aaron, 'attendee', { eventsJoined: 1 }),
    row(alice, 'alice@example.com', NAMES.alice, 'speaker', {
      eventsJoined: 2, sessionsWatched: 3, watchSeconds: 92, messages: 1, votes: 2, upvotes: 1, lastSeenAt: '2024-03-01T12:00:00.000Z',
    }),
    row(bob, 'bob@example.com', NAMES.bob, 'moderator', {
      eventsJoined: 1, sessionsWatched: 1, watchSeconds: 60, votes: 1, questions: 1, lastSeenAt: '2024-03-01T10:30:00.000Z',
    }),
    row(carol, 'carol@example.com', NAMES.carol, 'attendee', { messages: 2, upvotes: 1, lastSeenAt: '2024-03-01T10:50:00.000Z' }),
    row(dave, 'dave@example.com', NAMES.dave, 'attendee', { sessionsWatched: 2, watchSeconds: 65, lastSeenAt: 'now' }),
    row(eve, 'eve@example.com', NAMES.eve, 'admin', {}),
  ]);
});

t.test('one event: its people only, its counts only', async (t) => {
  t.strictSame(await userActivityReport(pool, { eventId: e1 }), [
    row(alice, 'alice@example.com', NAMES.alice, 'speaker', {
      // 91.5 s rounds up; the device (not tied to an event) is the latest sighting
      eventsJoined: 1, sessionsWatched: 2, watchSeconds: 92, votes: 1, upvotes: 1, lastSeenAt: '2024-03-01T12:00:00.000Z',
    }),
    row(bob, 'bob@example.com', NAMES.bob, 'moderator', {
      eventsJoined: 1, sessionsWatched: 1, watchSeconds: 60, votes: 1, questions: 1, lastSeenAt: '2024-03-01T10:30:00.000Z',
    }),
    row(carol, 'carol@example.com', NAMES.carol, 'attendee', { messages: 2, upvotes: 1, lastSeenAt: '2024-03-01T10:50:00.000Z' }),
    // the 09:59 minute: seen until 10:00
    row(dave, 'dave@example.com', NAMES.dave, 'attendee', { sessionsWatched: 1, watchSeconds: 20, lastSeenAt: '2024-03-01T10:00:00.000Z' }),
  ]);

  const rows = await userActivityReport(pool, { eventId: e2 });
  t.strictSame(checkNow(t, rows, Date.now()), [
    row(aaron, 'AARON@example.com', NAMES.aaron, 'attendee', { eventsJoined: 1 }),
    row(alice, 'alice@example.com', NAMES.alice, 'speaker', {
      eventsJoined: 1, sessionsWatched: 1, watchSeconds: 1, messages: 1, votes: 1, lastSeenAt: '2024-03-01T12:00:00.000Z',
    }),
    row(dave, 'dave@example.com', NAMES.dave, 'attendee', { sessionsWatched: 1, watchSeconds: 45, lastSeenAt: 'now' }),
  ]);

  const empty = await event('Empty');
  t.strictSame(await userActivityReport(pool, { eventId: empty }), [], 'an event nobody took part in');
});

const CELLS = ['userId', 'email', 'name', 'role', 'eventsJoined', 'sessionsWatched', 'watchSeconds', 'messages', 'votes', 'questions', 'upvotes', 'lastSeenAt'] as const;
/** What a spreadsheet should show for a value: text that would start a formula gets an apostrophe. */
const shown = (v: string | number | null) => (v === null ? '' : typeof v === 'number' ? String(v) : /^[=+\-@\t\r]/.test(v) ? `'${v}` : v);

t.test('CSV: the same rows, quoted, with formulas defused', async (t) => {
  const rows = await userActivityReport(pool);
  const csv = activityCsv(rows);
  t.ok(csv.startsWith('user_id,email,name,role,events_joined,sessions_watched,watch_seconds,messages,votes,questions,upvotes,last_seen_at\r\n'));
  t.ok(csv.endsWith('\r\n'));
  t.notOk(/[^\r]\n/.test(csv.replace('Doe, ""J""\r\nsecond line', '')), 'CRLF line ends only');
  t.ok(csv.includes(`,"'=HYPERLINK(""x"")",`), 'a formula is quoted and starts with an apostrophe');
  t.ok(csv.includes(`,"Doe, ""J""\r\nsecond line",`), 'comma, quote and line break stay inside one quoted field');
  t.ok(csv.includes(`,'-2+3 Bob,`) && csv.includes(`,'@eve,`) && csv.includes(`,'\tTabbed,`));

  const records = parseCsv(csv);
  t.equal(records.length, rows.length + 1);
  t.ok(records.every((r) => !r.error && r.fields.length === 12));
  rows.forEach((r, i) => {
    t.strictSame(records[i + 1]!.fields, CELLS.map((c) => shown(r[c])), `row ${i + 1} (${r.email})`);
  });
});

t.test('CSV: odd text cells', async (t) => {
  const base = { userId: '00000000-0000-4000-8000-000000000000', email: 'x@example.com', role: 'attendee' as const, ...zero };
  const names = ['\rCR first', '+SUM(A1)', 'plain', 'a,b', 'say "hi"', 'line\nbreak', 'semi;colon', "'already"];
  const records = parseCsv(activityCsv(names.map((name) => ({ ...base, name }))));
  t.strictSame(records.slice(1).map((r) => r.fields[2]), names.map(shown));
  t.equal(activityCsv([]), 'user_id,email,name,role,events_joined,sessions_watched,watch_seconds,messages,votes,questions,upvotes,last_seen_at\r\n');
});

t.test('20,000 users with activity: one quick query', async (t) => {
  await pool.query(
    `INSERT INTO users (email, name) SELECT 'load' || i || '@example.com', 'Load ' || i FROM generate_series(1, 20000) i`,
  );
  await pool.query(`INSERT INTO event_attendees (event_id, user_id) SELECT $1, id FROM users WHERE email LIKE 'load%'`, [e1]);
  await pool.query(
    `INSERT INTO viewer_minutes (session_id, minute, user_id, watch_ms)
     SELECT $1, '2024-03-01T10:00Z'::timestamptz + m * interval '1 minute', u.id, 60000
     FROM users u, generate_series(0, 9) m WHERE u.email LIKE 'load%'`,
    [s1a],
  );
  await pool.query(`INSERT INTO chat_messages (session_id, user_id, text) SELECT $1, id, 'hello' FROM users WHERE email LIKE 'load%'`, [s1a]);
  await pool.query(`INSERT INTO devices (user_id, expires_at) SELECT id, now() + interval '1 day' FROM users WHERE email LIKE 'load%'`);
  await pool.query('ANALYZE');

  let start = Date.now();
  const all = await userActivityReport(pool);
  const allMs = Date.now() - start;
  start = Date.now();
  const one = await userActivityReport(pool, { eventId: e1 });
  const oneMs = Date.now() - start;
  start = Date.now();
  const csv = activityCsv(all);
  const csvMs = Date.now() - start;
  t.comment(`report: all ${allMs} ms, one event ${oneMs} ms; CSV ${csvMs} ms (${csv.length} bytes)`);

  t.equal(all.length, 20_006);
  t.equal(one.length, 20_004);
  const load = all.find((r) => r.email === 'load777@example.com')!;
  t.match(load, { eventsJoined: 1, sessionsWatched: 1, watchSeconds: 600, messages: 1 });
  t.ok(allMs < 10_000 && oneMs < 10_000, 'each report well under 10 s');
});
