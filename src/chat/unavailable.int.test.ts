// Redis down: the chat service on a node whose bus is down (not ready, or failing to publish)
// still sends (issue 10: Postgres is the record, the frame waits in the outbox), numbers the
// message, keeps slow mode and clientMsgId idempotency, and everyone receives it once it can be
// published — here by the other node's outbox sweep, whose Redis is up. The service is built the
// way createAppDeps builds it, from the test node's real Postgres and Redis, with a hub (and
// outbox) over a bus we can switch off.
import { Redis } from 'ioredis';
import t from 'tap';
import { createModerationService } from '../moderation/service.js';
import { createChatService } from './service.js';
import { silentLog } from '../log.js';
import { createHub } from '../realtime/hub.js';
import { createOutbox } from '../realtime/outbox.js';
import { createBus, type Bus } from '../redis/bus.js';
import { startTestApi, principalOf } from '../testing/api.js';
import { testEnv } from '../testing/harness.js';
import { connectWs } from '../testing/ws.js';

const a = await startTestApi(t);
const b = await startTestApi(t, { nodeOf: a });
const admin = await a.user('admin');
const moderator = await a.user('moderator');
const u = await a.user('attendee');
const u2 = await a.user('attendee');
const HOUR = 3_600_000;
const at = (h: number) => new Date(Date.now() + h * HOUR).toISOString();
const event = (await a.call('POST', '/events', { token: admin.token, body: { title: 'Live', startsAt: at(-1), endsAt: at(3), status: 'published' } })).body;
const session = (await a.call('POST', `/events/${event.id}/sessions`, { token: admin.token, body: { title: 'Main', startsAt: at(-1), endsAt: at(2) } })).body;

// A real bus on the nodes' prefix, behind a switch: off = not ready (Redis unreachable) or,
// with `failing`, ready but every publish rejected (the connection dropping mid-way).
const { redisUrl } = testEnv();
const pub = new Redis(redisUrl);
const sub = new Redis(redisUrl);
t.teardown(() => void (pub.disconnect(), sub.disconnect()));
const real = createBus({ pub, sub, prefix: a.config.redisPrefix, log: silentLog() });
let state: 'up' | 'down' | 'failing' = 'down';
const bus: Bus = {
  ...real,
  ready: () => state !== 'down' && real.ready(),
  publish: (topic, message) => (state === 'failing' ? Promise.reject(new Error('Connection is closed.')) : real.publish(topic, message)),
};
const hub = createHub({ bus });
const outbox = createOutbox({ db: a.pool, hub, log: silentLog() });
const moderation = createModerationService({ db: a.pool, hub, events: a.deps.events, log: silentLog(), rateLimits: a.deps.moderation });
const chat = createChatService({ db: a.pool, redis: a.deps.redis, prefix: a.config.redisPrefix, log: silentLog(), hub, outbox, events: a.deps.events, moderation });
const asker = principalOf({ id: u.id, role: 'attendee' });
const asker2 = principalOf({ id: u2.id, role: 'attendee' });

const counts = async () => {
  const { rows } = await a.pool.query<{ messages: number; counted: string | null; last: number }>(
    `SELECT (SELECT count(*)::int FROM chat_messages WHERE session_id = $1) AS messages,
            (SELECT message_count::text FROM session_chat WHERE session_id = $1) AS counted,
            coalesce((SELECT last_seq::int FROM session_chat WHERE session_id = $1), 0) AS last`,
    [session.id],
  );
  return rows[0]!;
};

t.test('Redis down: sends are saved, numbered and answered, and reach the room once a node can publish them', async (t) => {
  const watcher = await connectWs(b.wsUrl, { token: (await a.user('attendee')).token });
  t.teardown(() => watcher.close());
  await watcher.request({ type: 'session:join', sessionId: session.id });
  await a.call('PUT', `/chat/session/${session.id}/settings`, { token: moderator.token, body: { slowModeSeconds: 60 } });
  const before = await counts();
  state = 'down';
  const first = await chat.send(asker, { sessionId: session.id, text: 'sent while down', clientMsgId: 'c-down' });
  t.ok(first.created, 'down: saved and answered');
  await t.rejects(chat.send(asker, { sessionId: session.id, text: 'too soon' }), { code: 'slow_mode' }, 'slow mode holds without Redis');
  const again = await chat.send(asker, { sessionId: session.id, text: 'sent while down', clientMsgId: 'c-down' });
  t.same([again.created, again.message.id], [false, first.message.id], 'the same clientMsgId answers the first message');
  state = 'failing';
  const second = await chat.send(asker2, { sessionId: session.id, text: 'sent while failing' });
  t.ok(second.created, 'failing: saved and answered');
  t.same([first.message.seq, second.message.seq], [before.last + 1, before.last + 2], 'numbered one after the other');
  t.same(await counts(), { ...before, messages: before.messages + 2, counted: String(Number(before.counted ?? 0) + 2), last: before.last + 2 });
  // this node's bus is still down; node a's outbox sweep (its Redis is up) publishes them
  const got = [];
  for (const m of [first.message, second.message]) got.push((await watcher.next((f) => f.type === 'chat:message' && f.message.id === m.id, { timeoutMs: 10_000 })).message);
  t.same(got.map((m) => m.seq), [first.message.seq, second.message.seq], 'delivered, with their seq');
  const seen = watcher.frames.filter((f) => f.type === 'chat:message').map((f) => f.message.seq);
  t.same(seen, [...seen].sort((x, y) => x - y), 'in seq order');
  state = 'up';
});

t.test('Redis down: pins, deletions and settings are saved and reach the room later; bans still answer unavailable', async (t) => {
  const watcher = await connectWs(b.wsUrl, { token: (await a.user('attendee')).token });
  t.teardown(() => watcher.close());
  await watcher.request({ type: 'session:join', sessionId: session.id });
  const mod = principalOf({ id: moderator.id, role: 'moderator' });
  state = 'up';
  const { message } = await chat.send(mod, { sessionId: session.id, text: 'pin me' });
  const { message: doomed } = await chat.send(mod, { sessionId: session.id, text: 'delete me' });
  state = 'down';
  t.equal((await chat.pin(mod, message.id, true)).pinned, true);
  await chat.remove(mod, doomed.id);
  t.equal((await chat.updateSettings(mod, session.id, { slowModeSeconds: 0 })).slowModeSeconds, 0);
  await t.rejects(moderation.ban(mod, event.id, { userId: u.id }), { code: 'unavailable' }, 'a ban needs its kick to go out: still refused');
  const h = await a.call('GET', `/chat/session/${session.id}`, { token: u.token });
  t.equal(h.body.pinned?.id, message.id, 'pinned');
  t.notOk(h.body.items.some((m: { id: string }) => m.id === doomed.id), 'deleted');
  t.equal((await a.pool.query(`SELECT 1 FROM event_restrictions WHERE user_id = $1`, [u.id])).rowCount, 0, 'no ban kept');
  await watcher.next((f) => f.type === 'chat:pinned' && f.message?.id === message.id, { timeoutMs: 10_000 });
  await watcher.next((f) => f.type === 'chat:deleted' && f.messageId === doomed.id, { timeoutMs: 10_000 });
  await watcher.next((f) => f.type === 'chat:settings' && f.settings.slowModeSeconds === 0, { timeoutMs: 10_000 });
  t.pass('each reached the room');
  state = 'up';
});
