// Questions over REST and WebSocket on two API nodes sharing Postgres and Redis: asking reaches
// both nodes, mutes and bans, concurrent upvotes counted once per user, answering by staff and
// the event's speakers only, ordering and pages, private events, validation, and nothing saved
// when Redis is down.
import t from 'tap';
import { unavailable } from '../errors.js';
import { NO_RATE_LIMITS, startTestApi, type TestApi, principalOf } from '../testing/api.js';
import { connectWs, joinedSession, type WsClient } from '../testing/ws.js';
import { createQuestionsService } from './service.js';
import { createOutbox } from '../realtime/outbox.js';

const a = await startTestApi(t, { env: NO_RATE_LIMITS }); // the per-user limits: moderation/rate-limits.int.test.ts
const b = await startTestApi(t, { nodeOf: a });
const [admin, speaker, otherSpeaker, attendee] = await Promise.all([a.user('admin'), a.user('speaker'), a.user('speaker'), a.user('attendee', { name: 'Ann Principal' })]);
const makeEvent = (o: { visibility?: 'public' | 'private'; speakerIds?: string[] } = {}) => a.liveSession(admin.token, o);
const { event, session } = await makeEvent({ speakerIds: [speaker.id] });
await makeEvent({ speakerIds: [otherSpeaker.id] });
const secret = await makeEvent({ visibility: 'private' });

const ask = async (text: string, token = attendee.token, sessionId = session.id, api: TestApi = a) => {
  const r = await api.call('POST', `/questions/session/${sessionId}`, { token, body: { text } });
  if (r.status !== 201) throw new Error(`ask → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

const joined = (api: TestApi, token: string): Promise<WsClient> => joinedSession(api.wsUrl, token, session.id);

t.test('a question asked on one node reaches clients on both, stored as sent', async (t) => {
  const [onA, onB] = [await joined(a, attendee.token), await joined(b, admin.token)];
  t.teardown(() => [onA, onB].forEach((c) => c.close()));
  const text = '<b>Will</b> the slides be shared? & when…';
  t.equal((await onA.request({ type: 'question:ask', sessionId: session.id, text })).type, 'ack');
  for (const c of [onA, onB]) {
    const f = await c.next((f) => f.type === 'question:new' && f.question.text === text);
    t.match(f.question, { sessionId: session.id, user: { id: attendee.id, name: 'Ann Principal' }, text, upvotes: 0, answered: false, answeredAt: null });
    t.notOk('upvotedByMe' in f.question);
  }
  const rest = await b.call('POST', `/questions/session/${session.id}`, { token: attendee.token, body: { text: 'And by REST?' } });
  t.same([rest.status, rest.body.upvotedByMe, rest.body.text], [201, false, 'And by REST?']);
  await onA.next((f) => f.type === 'question:new' && f.question.id === rest.body.id);
});

t.test('muted and banned users may not ask; banned users may not upvote', async (t) => {
  const [muted, banned] = [await a.user('attendee'), await a.user('attendee')];
  const q = await ask('Upvote me');
  await a.pool.query(`INSERT INTO event_restrictions (event_id, user_id, kind, until) VALUES ($1, $2, 'mute', now() + interval '1 hour'), ($1, $3, 'ban', NULL)`, [event.id, muted.id, banned.id]);
  const m = await a.call('POST', `/questions/session/${session.id}`, { token: muted.token, body: { text: 'hello?' } });
  t.same([m.status, m.body.code], [403, 'muted']);
  const ws = await connectWs(b.wsUrl, { token: muted.token });
  t.teardown(() => ws.close());
  const wsErr = await ws.request({ type: 'question:ask', sessionId: session.id, text: 'hello?' });
  t.same([wsErr.type, wsErr.code], ['error', 'muted'], 'over WebSocket too');
  t.equal((await a.call('POST', `/questions/${q.id}/upvote`, { token: muted.token })).status, 200, 'a muted user may still upvote');
  const bAsk = await a.call('POST', `/questions/session/${session.id}`, { token: banned.token, body: { text: 'hello?' } });
  t.same([bAsk.status, bAsk.body.code], [403, 'banned']);
  const bUp = await a.call('POST', `/questions/${q.id}/upvote`, { token: banned.token });
  t.same([bUp.status, bUp.body.code], [403, 'banned']);
  const { rows } = await a.pool.query(`SELECT count(*)::int AS n FROM questions WHERE user_id = ANY($1::uuid[])`, [[muted.id, banned.id]]);
  t.equal(rows[0].n, 0);
});

t.test('50 users each upvoting the same question 3 times at once count 50', async (t) => {
  const q = await ask('Popular?');
  const voters = await a.bulkUsers(50);
  const watchers = [await joined(a, admin.token), await joined(b, speaker.token)];
  const sockets = await Promise.all(voters.map((v, i) => connectWs((i % 2 ? a : b).wsUrl, { token: v.token })));
  t.teardown(() => [...watchers, ...sockets].forEach((c) => c.close()));
  const results = await Promise.all(
    voters.flatMap((v, i) => [
      a.call('POST', `/questions/${q.id}/upvote`, { token: v.token }).then((r) => r.status),
      b.call('POST', `/questions/${q.id}/upvote`, { token: v.token }).then((r) => r.status),
      sockets[i]!.request({ type: 'question:upvote', questionId: q.id }).then((f) => (f.type === 'ack' ? 200 : f.code)),
    ]),
  );
  t.ok(results.every((s) => s === 200), 'every upvote answered 200 (again is idempotent)');
  const { rows } = await a.pool.query(`SELECT upvotes, (SELECT count(*)::int FROM question_upvotes WHERE question_id = $1) AS n FROM questions WHERE id = $1`, [q.id]);
  t.same(rows[0], { upvotes: 50, n: 50 });
  for (const w of watchers) {
    await w.next((f) => f.type === 'question:upvote' && f.question.id === q.id && f.question.upvotes === 50);
    const seen = w.frames.filter((f) => f.type === 'question:upvote' && f.question.id === q.id).map((f) => f.question.upvotes);
    t.same(seen, Array.from({ length: 50 }, (_, i) => i + 1), 'one frame per upvote, in counting order, on both nodes');
  }
  const again = await a.call('POST', `/questions/${q.id}/upvote`, { token: voters[0]!.token });
  t.same([again.status, again.body.upvotes, again.body.upvotedByMe], [200, 50, true], 'upvoting again changes nothing');
});

t.test('only staff and the event’s speakers mark questions answered; it reaches both nodes', async (t) => {
  const q = await ask('Answered?');
  t.equal((await a.call('POST', `/questions/${q.id}/answer`, { token: attendee.token })).status, 403, 'attendee');
  t.equal((await a.call('POST', `/questions/${q.id}/answer`, { token: otherSpeaker.token })).status, 403, 'a speaker of another event');
  const [onA, onB] = [await joined(a, attendee.token), await joined(b, admin.token)];
  t.teardown(() => [onA, onB].forEach((c) => c.close()));
  const host = await connectWs(b.wsUrl, { token: speaker.token });
  t.teardown(() => host.close());
  t.equal((await host.request({ type: 'question:answer', questionId: q.id })).type, 'ack');
  for (const c of [onA, onB]) {
    const f = await c.next((f) => f.type === 'question:answered' && f.question.id === q.id);
    t.match(f.question, { answered: true, text: 'Answered?' });
    t.ok(f.question.answeredAt);
  }
  const again = await a.call('POST', `/questions/${q.id}/answer`, { token: admin.token });
  t.same([again.status, again.body.answered, again.body.answeredAt], [200, true, (await onA.next((f) => f.type === 'question:answered')).question.answeredAt]);
});

t.test('questions come most upvoted first (or newest first) as pages, with upvotedByMe', async (t) => {
  const { session: s } = await makeEvent();
  const qs = [];
  for (const text of ['first', 'second', 'third']) qs.push(await ask(text, attendee.token, s.id));
  const [u1, u2] = [await a.user('attendee'), await a.user('attendee')];
  for (const u of [u1, u2]) await a.call('POST', `/questions/${qs[2].id}/upvote`, { token: u.token });
  await a.call('POST', `/questions/${qs[1].id}/upvote`, { token: u1.token });
  const top1 = await a.call('GET', `/questions/session/${s.id}?limit=2`, { token: u2.token });
  t.same(top1.body.items.map((q: { text: string }) => q.text), ['third', 'second']);
  t.same(top1.body.items.map((q: { upvotedByMe: boolean }) => q.upvotedByMe), [true, false]);
  const top2 = await a.call('GET', `/questions/session/${s.id}?limit=2&cursor=${top1.body.nextCursor}`, { token: u2.token });
  t.same([top2.body.items.map((q: { text: string }) => q.text), top2.body.nextCursor], [['first'], null]);
  const newest = await b.call('GET', `/questions/session/${s.id}?order=new&limit=2`, { token: u1.token });
  t.same(newest.body.items.map((q: { text: string }) => q.text), ['third', 'second']);
  const rest = await b.call('GET', `/questions/session/${s.id}?order=new&limit=2&cursor=${newest.body.nextCursor}`, { token: u1.token });
  t.same(rest.body.items.map((q: { text: string }) => q.text), ['first']);
  const mixed = await b.call('GET', `/questions/session/${s.id}?order=top&cursor=${newest.body.nextCursor}`, { token: u1.token });
  t.equal(mixed.status, 400, 'a cursor of the other order');
  t.equal((await b.call('GET', `/questions/session/${s.id}?order=old`, { token: u1.token })).status, 400);
});

t.test('requests that do not fit are refused field by field', async (t) => {
  const cases: [string, unknown, string][] = [
    [`/questions/session/${session.id}`, { text: '' }, 'body.text'],
    [`/questions/session/${session.id}`, { text: '   ' }, 'body.text'],
    [`/questions/session/${session.id}`, { text: 'x'.repeat(501) }, 'body.text'],
    [`/questions/session/${session.id}`, { text: 'hi', extra: true }, 'body'],
    [`/questions/session/${session.id}`, { text: 5 }, 'body.text'],
    ['/questions/session/nope', { text: 'hi' }, 'params.id'],
    ['/questions/nope/upvote', undefined, 'params.id'],
  ];
  for (const [path, body, field] of cases) {
    const r = await a.call('POST', path, { token: attendee.token, body });
    t.equal(r.status, 400, `${path} ${JSON.stringify(body)?.slice(0, 60)}`);
    t.ok(r.body.errors?.some((e: { field: string }) => e.field === field), `names ${field}: ${JSON.stringify(r.body.errors)}`);
  }
  t.equal((await a.call('POST', '/questions/00000000-0000-4000-8000-000000000000/upvote', { token: attendee.token })).status, 404);
  t.equal((await a.call('POST', `/questions/session/${session.id}`, { token: attendee.token, body: { text: 'x'.repeat(500) } })).status, 201, '500 characters fit');
});

t.test('a private event’s questions are hidden from non-attendees', async (t) => {
  const q = await ask('Secret?', admin.token, secret.session.id);
  const outsider = await a.user('attendee');
  t.equal((await a.call('GET', `/questions/session/${secret.session.id}`, { token: outsider.token })).status, 404);
  t.equal((await a.call('POST', `/questions/session/${secret.session.id}`, { token: outsider.token, body: { text: 'me?' } })).status, 404);
  t.equal((await a.call('POST', `/questions/${q.id}/upvote`, { token: outsider.token })).status, 404);
  await a.call('POST', `/events/${secret.event.id}/attendees`, { token: admin.token, body: { userIds: [outsider.id] } });
  const list = await a.call('GET', `/questions/session/${secret.session.id}`, { token: outsider.token });
  t.same([list.status, list.body.items.length], [200, 1], 'once an attendee');
});

t.test('Redis down: questions, upvotes and answers are saved, and their frames reach the room once a node can publish them', async (t) => {
  // a node whose Redis is down: every publish fails; its outbox keeps the frames for node a's sweep
  const hub = { publish: async () => { throw unavailable('Redis is unreachable.'); }, publishData: async () => { throw unavailable('Redis is unreachable.'); }, kick: async () => undefined };
  const down = createQuestionsService({
    db: a.pool,
    moderation: a.deps.moderation,
    redis: { status: 'reconnecting' } as never,
    prefix: 'x',
    log: a.deps.log,
    events: a.deps.events,
    hub,
    outbox: createOutbox({ db: a.pool, hub, log: a.deps.log }),
  });
  const watcher = await joinedSession(a.wsUrl, (await a.user('attendee')).token, session.id);
  t.teardown(() => watcher.close());
  const me = principalOf({ id: attendee.id, role: 'attendee' });
  const q = await down.ask(me, session.id, 'Saved while Redis is down?');
  t.equal((await down.upvote(me, q.id)).question.upvotes, 1);
  t.equal((await down.answer(principalOf({ id: admin.id, role: 'admin' }), q.id)).answered, true);
  const got = (await a.call('GET', `/questions/session/${session.id}?order=new&limit=1`, { token: attendee.token })).body.items[0];
  t.same([got.id, got.upvotes, got.answered], [q.id, 1, true], 'all saved');
  await watcher.next((f) => f.type === 'question:new' && f.question.id === q.id, { timeoutMs: 10_000 });
  await watcher.next((f) => f.type === 'question:upvote' && f.question.id === q.id && f.question.upvotes === 1, { timeoutMs: 10_000 });
  await watcher.next((f) => f.type === 'question:answered' && f.question.id === q.id, { timeoutMs: 10_000 });
  const order = watcher.frames.filter((f) => f.question?.id === q.id).map((f) => f.type);
  t.same(order, ['question:new', 'question:upvote', 'question:answered'], 'each once, in the order they happened');
});
