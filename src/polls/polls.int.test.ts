// Polls over REST and WebSocket on two API nodes sharing Postgres and Redis: who may open and
// close them, exact totals from 100 concurrent voters spread over both nodes (some changing
// their vote), one vote per user, closed polls, bans, private events, validation, and nothing
// saved when Redis is down.
import t from 'tap';
import { unavailable } from '../errors.js';
import { NO_RATE_LIMITS, startTestApi, type TestApi, principalOf } from '../testing/api.js';
import { connectWs, joinedSession, type Frame, type WsClient } from '../testing/ws.js';
import { createPollsService } from './service.js';
import { createOutbox } from '../realtime/outbox.js';

const a = await startTestApi(t, { env: NO_RATE_LIMITS }); // the per-user limits: moderation/rate-limits.int.test.ts
const b = await startTestApi(t, { nodeOf: a });
const [admin, speaker, otherSpeaker, attendee] = await Promise.all([a.user('admin'), a.user('speaker'), a.user('speaker'), a.user('attendee')]);
const makeEvent = (o: { visibility?: 'public' | 'private'; speakerIds?: string[] } = {}) => a.liveSession(admin.token, o);
const { event, session } = await makeEvent({ speakerIds: [speaker.id] });
await makeEvent({ speakerIds: [otherSpeaker.id] });
const secret = await makeEvent({ visibility: 'private' });

const openPoll = async (api: TestApi = a, token = speaker.token, sessionId = session.id, options = ['Yes', 'No']) => {
  const r = await api.call('POST', '/polls', { token, body: { sessionId, question: 'Ready?', options } });
  if (r.status !== 201) throw new Error(`open poll → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

const joined = (api: TestApi, token: string): Promise<WsClient> => joinedSession(api.wsUrl, token, session.id);

t.test('attendees and speakers of other events may not open polls; the event’s speakers and staff may', async (t) => {
  const body = { sessionId: session.id, question: 'Coffee or tea?', options: ['Coffee', 'Tea'] };
  const refused = await a.call('POST', '/polls', { token: attendee.token, body });
  t.same([refused.status, refused.body.code], [403, 'forbidden'], 'attendee');
  t.equal((await a.call('POST', '/polls', { token: otherSpeaker.token, body })).status, 403, 'a speaker of another event');
  const opened = await a.call('POST', '/polls', { token: speaker.token, body });
  t.equal(opened.status, 201, 'a speaker of this event');
  t.match(opened.body, { sessionId: session.id, question: 'Coffee or tea?', totalVotes: 0, closed: false, closedAt: null, myVote: null });
  t.same(opened.body.options.map((o: { text: string; votes: number }) => [o.text, o.votes]), [['Coffee', 0], ['Tea', 0]]);
  const moderator = await a.user('moderator');
  t.equal((await b.call('POST', '/polls', { token: moderator.token, body })).status, 201, 'a moderator, on the other node');
  const ws = await connectWs(a.wsUrl, { token: attendee.token });
  t.teardown(() => ws.close());
  const err = await ws.request({ type: 'poll:create', ...body });
  t.same([err.type, err.code], ['error', 'forbidden'], 'over WebSocket too');
});

t.test('requests that do not fit are refused field by field', async (t) => {
  const poll = await openPoll();
  const other = await openPoll();
  const cases: [string, string, unknown, string][] = [
    ['POST', '/polls', { sessionId: session.id, question: 'Q', options: ['only one'] }, 'body.options'],
    ['POST', '/polls', { sessionId: session.id, question: 'Q', options: Array.from({ length: 11 }, (_, i) => `o${i}`) }, 'body.options'],
    ['POST', '/polls', { sessionId: session.id, question: '   ', options: ['a', 'b'] }, 'body.question'],
    ['POST', '/polls', { sessionId: session.id, question: 'Q', options: ['a', ''] }, 'body.options.1'],
    ['POST', '/polls', { sessionId: session.id, question: 'Q', options: ['a', 'a'] }, 'body.options'],
    ['POST', '/polls', { sessionId: 'nope', question: 'Q', options: ['a', 'b'] }, 'body.sessionId'],
    ['POST', '/polls', { sessionId: session.id, question: 'Q', options: ['a', 'b'], extra: 1 }, 'body'],
    ['POST', `/polls/${poll.id}/vote`, { optionId: 'x' }, 'body.optionId'],
    ['POST', `/polls/${poll.id}/vote`, { optionId: other.options[0].id }, 'body.optionId'],
    ['POST', '/polls/not-a-uuid/vote', { optionId: poll.options[0].id }, 'params.id'],
  ];
  for (const [method, path, body, field] of cases) {
    const r = await a.call(method, path, { token: speaker.token, body });
    t.equal(r.status, 400, `${path} ${JSON.stringify(body).slice(0, 80)}`);
    t.ok(r.body.errors?.some((e: { field: string }) => e.field === field), `names ${field}: ${JSON.stringify(r.body.errors)}`);
  }
  const missing = await a.call('POST', '/polls', { token: speaker.token, body: { sessionId: '00000000-0000-4000-8000-000000000000', question: 'Q', options: ['a', 'b'] } });
  t.equal(missing.status, 404, 'an unknown session');
  t.equal((await a.call('GET', '/polls/00000000-0000-4000-8000-000000000000', { token: attendee.token })).status, 404, 'an unknown poll');
  const { rows } = await a.pool.query(`SELECT count(*)::int AS n FROM poll_votes WHERE poll_id = $1`, [poll.id]);
  t.equal(rows[0].n, 0, 'no vote was saved');
});

t.test('100 concurrent voters on two nodes, some changing their vote: exact totals everywhere', async (t) => {
  const voters = await a.bulkUsers(100);
  const clients = await Promise.all(voters.map((v, i) => joined(i % 2 ? b : a, v.token)));
  t.teardown(() => clients.forEach((c) => c.close()));
  const host = await joined(a, speaker.token);
  t.teardown(() => host.close());
  t.equal((await host.request({ type: 'poll:create', sessionId: session.id, question: 'Best talk?', options: ['One', 'Two', 'Three', 'Four'] })).type, 'ack');
  const news = await Promise.all(clients.map((c) => c.next((f) => f.type === 'poll:new' && f.poll.question === 'Best talk?')));
  t.ok(news.every((f) => f.poll.id === news[0]!.poll.id), 'every client on both nodes saw poll:new');
  const poll = news[0]!.poll;
  const option = (i: number) => poll.options[i % 4].id as string;

  // voter i votes option i; every third then moves to option i+1 (same socket, right after)
  const finalOf = voters.map((_, i) => (i % 3 === 0 ? option(i + 1) : option(i)));
  const answers = await Promise.all(
    clients.map(async (c, i) => {
      const first = c.request({ type: 'poll:vote', pollId: poll.id, optionId: option(i) });
      const second = i % 3 === 0 ? c.request({ type: 'poll:vote', pollId: poll.id, optionId: option(i + 1) }) : null;
      return [await first, await second];
    }),
  );
  t.ok(answers.flat().every((f) => f === null || f.type === 'ack'), 'every vote acked');

  const expected = poll.options.map((o: { id: string; text: string }) => ({ id: o.id, text: o.text, votes: finalOf.filter((x) => x === o.id).length }));
  const exact = (f: Frame) => f.type === 'poll:vote' && f.poll.id === poll.id && JSON.stringify(f.poll.options) === JSON.stringify(expected);
  await Promise.all([...clients, host].map((c) => c.next(exact, { timeoutMs: 10_000 })));
  await new Promise((r) => setTimeout(r, 600)); // anything still on its way would arrive now
  const lastOf = (c: WsClient) => c.frames.filter((f) => f.type === 'poll:vote' && f.poll.id === poll.id).at(-1)!;
  const wrong = [...clients, host].filter((c) => !exact(lastOf(c)));
  t.equal(wrong.length, 0, 'the last poll:vote frame every client saw holds the exact totals');
  t.equal(lastOf(host).poll.totalVotes, 100);
  t.notOk('myVote' in lastOf(host).poll, 'broadcasts carry no one’s vote');
  const frames = clients.map((c) => c.frames.filter((f) => f.type === 'poll:vote' && f.poll.id === poll.id).length);
  t.ok(Math.max(...frames) < 134, `votes were coalesced (at most ${Math.max(...frames)} poll:vote frames per client for 134 votes)`);

  const got = await b.call('GET', `/polls/${poll.id}`, { token: voters[0]!.token });
  t.same(got.body.options, expected, 'the REST answer has the same totals');
  t.equal(got.body.myVote, finalOf[0], 'and the caller’s final vote');
  const { rows } = await a.pool.query(`SELECT count(*)::int AS n FROM poll_votes WHERE poll_id = $1`, [poll.id]);
  t.equal(rows[0].n, 100, 'one row per voter');
});

t.test('a user voting many times at once, on both nodes and both ways, counts once', async (t) => {
  const poll = await openPoll();
  const [yes, no] = [poll.options[0].id, poll.options[1].id];
  const ws = await connectWs(b.wsUrl, { token: attendee.token });
  t.teardown(() => ws.close());
  const all = await Promise.all([
    ...Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).call('POST', `/polls/${poll.id}/vote`, { token: attendee.token, body: { optionId: i % 3 ? yes : no } })),
    ws.request({ type: 'poll:vote', pollId: poll.id, optionId: no }),
  ]);
  t.ok(all.slice(0, 10).every((r) => 'status' in r && r.status === 200));
  const got = (await a.call('GET', `/polls/${poll.id}`, { token: attendee.token })).body;
  t.equal(got.totalVotes, 1);
  t.equal(got.options.find((o: { id: string }) => o.id === got.myVote).votes, 1, 'the one vote is where myVote says');
  const moved = await a.call('POST', `/polls/${poll.id}/vote`, { token: attendee.token, body: { optionId: got.myVote === yes ? no : yes } });
  t.same([moved.body.totalVotes, moved.body.myVote], [1, got.myVote === yes ? no : yes], 'changing it moves the vote');
});

t.test('closing reaches both nodes; a closed poll refuses votes; only staff and the event’s speakers close', async (t) => {
  const poll = await openPoll();
  const [onA, onB] = [await joined(a, attendee.token), await joined(b, admin.token)];
  t.teardown(() => [onA, onB].forEach((c) => c.close()));
  t.equal((await a.call('POST', `/polls/${poll.id}/vote`, { token: attendee.token, body: { optionId: poll.options[1].id } })).status, 200);
  t.equal((await a.call('POST', `/polls/${poll.id}/close`, { token: attendee.token })).status, 403, 'attendee');
  t.equal((await a.call('POST', `/polls/${poll.id}/close`, { token: otherSpeaker.token })).status, 403, 'a speaker of another event');
  const host = await connectWs(b.wsUrl, { token: speaker.token });
  t.teardown(() => host.close());
  t.equal((await host.request({ type: 'poll:close', pollId: poll.id })).type, 'ack');
  for (const c of [onA, onB]) {
    const closed = await c.next((f) => f.type === 'poll:closed' && f.poll.id === poll.id);
    t.match(closed.poll, { closed: true, totalVotes: 1 });
    t.ok(closed.poll.closedAt);
  }
  const late = await b.call('POST', `/polls/${poll.id}/vote`, { token: admin.token, body: { optionId: poll.options[0].id } });
  t.same([late.status, late.body.code], [409, 'poll_closed']);
  const wsLate = await onA.request({ type: 'poll:vote', pollId: poll.id, optionId: poll.options[0].id });
  t.same([wsLate.type, wsLate.code], ['error', 'poll_closed']);
  const again = await a.call('POST', `/polls/${poll.id}/close`, { token: admin.token });
  t.same([again.status, again.body.closed, again.body.totalVotes], [200, true, 1], 'closing again changes nothing');
});

t.test('a banned user may not vote', async (t) => {
  const poll = await openPoll();
  const u = await a.user('attendee');
  await a.pool.query(`INSERT INTO event_restrictions (event_id, user_id, kind) VALUES ($1, $2, 'ban')`, [event.id, u.id]);
  const r = await a.call('POST', `/polls/${poll.id}/vote`, { token: u.token, body: { optionId: poll.options[0].id } });
  t.same([r.status, r.body.code], [403, 'banned']);
});

t.test('a private event’s polls are hidden from non-attendees', async (t) => {
  const poll = await openPoll(a, admin.token, secret.session.id);
  const outsider = await a.user('attendee');
  t.equal((await a.call('GET', `/polls/session/${secret.session.id}`, { token: outsider.token })).status, 404);
  t.equal((await a.call('GET', `/polls/${poll.id}`, { token: outsider.token })).status, 404);
  t.equal((await a.call('POST', `/polls/${poll.id}/vote`, { token: outsider.token, body: { optionId: poll.options[0].id } })).status, 404);
  await a.call('POST', `/events/${secret.event.id}/attendees`, { token: admin.token, body: { userIds: [outsider.id] } });
  t.equal((await a.call('POST', `/polls/${poll.id}/vote`, { token: outsider.token, body: { optionId: poll.options[0].id } })).status, 200, 'once an attendee');
});

t.test('the session’s polls come as pages, each with the caller’s vote', async (t) => {
  const { session: s } = await makeEvent({ speakerIds: [speaker.id] });
  const polls = [];
  for (let i = 0; i < 3; i++) polls.push(await openPoll(a, speaker.token, s.id, [`a${i}`, `b${i}`]));
  await a.call('POST', `/polls/${polls[1].id}/vote`, { token: attendee.token, body: { optionId: polls[1].options[1].id } });
  const first = await a.call('GET', `/polls/session/${s.id}?limit=2`, { token: attendee.token });
  t.same(first.body.items.map((p: { id: string }) => p.id), [polls[0].id, polls[1].id]);
  t.same(first.body.items.map((p: { myVote: string | null }) => p.myVote), [null, polls[1].options[1].id]);
  const second = await a.call('GET', `/polls/session/${s.id}?limit=2&cursor=${first.body.nextCursor}`, { token: attendee.token });
  t.same([second.body.items.map((p: { id: string }) => p.id), second.body.nextCursor], [[polls[2].id], null]);
  t.equal((await a.call('GET', `/polls/session/${s.id}?limit=0`, { token: attendee.token })).status, 400);
});

t.test('Redis down: votes and polls are saved, and their frames reach the room once a node can publish them', async (t) => {
  // a node whose Redis is down: every publish fails; its outbox keeps the frames for node a's sweep
  const hub = { publish: async () => { throw unavailable('Redis is unreachable.'); }, publishData: async () => { throw unavailable('Redis is unreachable.'); }, kick: async () => undefined };
  const down = createPollsService({
    db: a.pool,
    moderation: a.deps.moderation,
    redis: { status: 'reconnecting' } as never,
    prefix: 'x',
    log: a.deps.log,
    events: a.deps.events,
    hub,
    outbox: createOutbox({ db: a.pool, hub, log: a.deps.log }),
  });
  const watcher = await joined(b, (await a.user('attendee')).token);
  t.teardown(() => watcher.close());
  const created = await down.create(principalOf({ ...speaker, role: 'speaker' }), { sessionId: session.id, question: 'Saved?', options: ['a', 'b'] });
  const voted = await down.vote(principalOf({ ...attendee, role: 'attendee' }), created.id, created.options[0]!.id);
  t.equal(voted.totalVotes, 1, 'the vote is answered');
  const closed = await down.close(principalOf({ ...speaker, role: 'speaker' }), created.id);
  t.equal(closed.closed, true);
  t.match((await a.call('GET', `/polls/${created.id}`, { token: speaker.token })).body, { closed: true, totalVotes: 1 }, 'all saved');
  t.equal((await watcher.next((f) => f.type === 'poll:new' && f.poll.id === created.id, { timeoutMs: 10_000 })).poll.totalVotes, 0);
  t.match((await watcher.next((f) => f.type === 'poll:closed' && f.poll.id === created.id, { timeoutMs: 10_000 })).poll, { closed: true, totalVotes: 1 });
  const order = watcher.frames.filter((f) => f.poll?.id === created.id).map((f) => f.type);
  t.same([order[0], order[order.length - 1]], ['poll:new', 'poll:closed'], 'opened first, closed last');
});
