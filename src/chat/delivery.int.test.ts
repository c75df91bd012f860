// Issue 10: nothing is delivered that a read does not have. A change whose COMMIT fails (here a
// deferred constraint trigger of this test's own database raises at COMMIT, after every statement
// of the change went through) reaches nobody — chat messages, polls, votes, questions and
// upvotes alike — while the changes around it arrive, in their order. And the seq rule: chat
// messages are numbered 1, 2, 3, … per session in the frames and in history, and history's
// lastSeq tells a client that resyncs where it stands.
import t from 'tap';
import { NO_RATE_LIMITS, startTestApi, type TestApi } from '../testing/api.js';
import { joinedSession, type Frame, type WsClient } from '../testing/ws.js';

const a = await startTestApi(t, { env: NO_RATE_LIMITS });
const b = await startTestApi(t, { nodeOf: a });
const admin = await a.user('admin');
const attendee = await a.user('attendee');
const doomedVoter = await a.user('attendee');
const doomedUpvoter = await a.user('attendee');
const { session } = await a.liveSession(admin.token);

// fails the COMMIT of any transaction that wrote a row marked 'doomed' (or by a doomed user)
await a.pool.query(`
  CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'failed at commit (test)'; END $$;
  CREATE CONSTRAINT TRIGGER doomed_chat AFTER INSERT ON chat_messages DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.text LIKE 'doomed%') EXECUTE FUNCTION fail_at_commit();
  CREATE CONSTRAINT TRIGGER doomed_poll AFTER INSERT ON polls DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.question LIKE 'doomed%') EXECUTE FUNCTION fail_at_commit();
  CREATE CONSTRAINT TRIGGER doomed_question AFTER INSERT ON questions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.text LIKE 'doomed%') EXECUTE FUNCTION fail_at_commit();
  CREATE CONSTRAINT TRIGGER doomed_vote AFTER INSERT ON poll_votes DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.user_id = '${doomedVoter.id}') EXECUTE FUNCTION fail_at_commit();
  CREATE CONSTRAINT TRIGGER doomed_upvote AFTER INSERT ON question_upvotes DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.user_id = '${doomedUpvoter.id}') EXECUTE FUNCTION fail_at_commit();
`);

const clients: WsClient[] = [];
t.teardown(() => clients.forEach((c) => c.close()));
async function watcher(node: TestApi): Promise<WsClient> {
  const c = await joinedSession(node.wsUrl, (await a.user('attendee')).token, session.id);
  clients.push(c);
  return c;
}
const send = (text: string) => a.call('POST', `/chat/session/${session.id}`, { token: attendee.token, body: { text } });
const mentions = (c: WsClient, word: string) => c.frames.filter((f) => JSON.stringify(f).includes(word));

t.test('a chat message whose COMMIT fails reaches nobody; the seq has no gap', async (t) => {
  const watchers = [await watcher(a), await watcher(b)];
  const before = (await send('before')).body;
  const doomed = await send('doomed message');
  t.equal(doomed.status, 500, 'the sender is told it failed');
  const after = (await send('after')).body;
  t.equal(after.seq, before.seq + 1, 'the failed send took no number');
  for (const c of watchers) {
    await c.next((f) => f.type === 'chat:message' && f.message.id === after.id, { timeoutMs: 10_000 });
    t.same(mentions(c, 'doomed'), [], 'nothing of the failed send arrived');
    t.same(c.frames.filter((f) => f.type === 'chat:message').map((f) => f.message.seq), [before.seq, after.seq]);
  }
  const h = (await a.call('GET', `/chat/session/${session.id}`, { token: attendee.token })).body;
  t.same(h.items.map((m: { seq: number }) => m.seq).slice(-2), [before.seq, after.seq]);
});

t.test('polls, votes, questions and upvotes whose COMMIT fails send no frame', async (t) => {
  const c = await watcher(b);
  const poll = (await a.call('POST', '/polls', { token: admin.token, body: { sessionId: session.id, question: 'Kept?', options: ['yes', 'no'] } })).body;
  t.equal((await a.call('POST', '/polls', { token: admin.token, body: { sessionId: session.id, question: 'doomed poll', options: ['x', 'y'] } })).status, 500);
  t.equal((await a.call('POST', `/polls/${poll.id}/vote`, { token: doomedVoter.token, body: { optionId: poll.options[0].id } })).status, 500);
  t.equal((await a.call('POST', `/polls/${poll.id}/vote`, { token: attendee.token, body: { optionId: poll.options[1].id } })).status, 200);
  const q = (await a.call('POST', `/questions/session/${session.id}`, { token: attendee.token, body: { text: 'Kept?' } })).body;
  t.equal((await a.call('POST', `/questions/session/${session.id}`, { token: attendee.token, body: { text: 'doomed question' } })).status, 500);
  t.equal((await a.call('POST', `/questions/${q.id}/upvote`, { token: doomedUpvoter.token })).status, 500);
  t.equal((await a.call('POST', `/questions/${q.id}/upvote`, { token: attendee.token })).status, 200);
  const closed = (await a.call('POST', `/polls/${poll.id}/close`, { token: admin.token })).body;
  t.same([closed.totalVotes, closed.options.map((o: { votes: number }) => o.votes)], [1, [0, 1]], 'the failed vote is not counted');

  await c.next((f) => f.type === 'poll:closed' && f.poll.id === poll.id, { timeoutMs: 10_000 });
  await c.next((f) => f.type === 'question:upvote' && f.question.id === q.id, { timeoutMs: 10_000 });
  t.same(mentions(c, 'doomed'), [], 'no frame of the failed poll or question');
  const votes = c.frames.filter((f: Frame) => f.type === 'poll:vote' || f.type === 'poll:closed').map((f) => f.poll.options.map((o: { votes: number }) => o.votes));
  t.same(votes.filter((v) => v[0] !== 0), [], 'no frame ever counted the failed vote');
  const upvotes = c.frames.filter((f) => f.type === 'question:upvote').map((f) => f.question.upvotes);
  t.same(upvotes, [1], 'one upvote frame, the one that committed');
  const read = (await a.call('GET', `/questions/session/${session.id}`, { token: attendee.token })).body.items;
  t.same(read.map((x: { id: string; upvotes: number }) => [x.id, x.upvotes]), [[q.id, 1]], 'what arrived is what a read returns');
});

t.test('seq: numbered per session in frames and history; lastSeq and ?after= resync exactly the missed ones', async (t) => {
  const { session: s } = await a.liveSession(admin.token);
  const sent = [];
  for (let i = 0; i < 5; i++) sent.push((await a.call('POST', `/chat/session/${s.id}`, { token: attendee.token, body: { text: `n${i}` } })).body);
  t.same(sent.map((m) => m.seq), [1, 2, 3, 4, 5], 'a new session counts from 1');
  t.equal((await a.call('DELETE', `/chat/${sent[3].id}`, { token: admin.token })).status, 204);
  // a client that had seq 2 and then saw seq 5: resync after its last message
  const h = (await b.call('GET', `/chat/session/${s.id}?after=${sent[1].id}`, { token: attendee.token })).body;
  t.same(h.items.map((m: { seq: number }) => m.seq), [3, 5], 'the missed ones (4 was deleted)');
  t.equal(h.lastSeq, 5, 'lastSeq: everything up to 5 is settled');
  const empty = (await b.call('GET', `/chat/session/${(await a.liveSession(admin.token)).session.id}`, { token: attendee.token })).body;
  t.same([empty.items, empty.lastSeq], [[], 0]);
});
