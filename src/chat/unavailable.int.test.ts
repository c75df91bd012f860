// Redis down: the chat service on a node whose bus is down (not ready, or failing to publish)
// answers `unavailable` and saves nothing — no message, no count, no slow-mode slot, no ban —
// and works again once Redis is back. The service is built the way createAppDeps builds it,
// from the test node's real Postgres and Redis, with a hub over a bus we can switch off.
import { Redis } from 'ioredis';
import t from 'tap';
import { createModerationService } from '../moderation/service.js';
import { createChatService } from './service.js';
import { silentLog } from '../log.js';
import { createHub } from '../realtime/hub.js';
import { createBus, type Bus } from '../redis/bus.js';
import { startTestApi, principalOf } from '../testing/api.js';
import { testEnv } from '../testing/harness.js';
import { connectWs } from '../testing/ws.js';

const a = await startTestApi(t);
const b = await startTestApi(t, { nodeOf: a });
const admin = await a.user('admin');
const moderator = await a.user('moderator');
const u = await a.user('attendee');
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
const moderation = createModerationService({ db: a.pool, hub, events: a.deps.events, log: silentLog(), rateLimits: a.deps.moderation });
const chat = createChatService({ db: a.pool, redis: a.deps.redis, prefix: a.config.redisPrefix, log: silentLog(), hub, events: a.deps.events, moderation });
const asker = principalOf({ id: u.id, role: 'attendee' });

const counts = async () => {
  const { rows } = await a.pool.query<{ messages: number; counted: string | null }>(
    `SELECT (SELECT count(*)::int FROM chat_messages WHERE session_id = $1) AS messages,
            (SELECT message_count::text FROM session_chat WHERE session_id = $1) AS counted`,
    [session.id],
  );
  return rows[0]!;
};

t.test('Redis down: sends answer unavailable and nothing is saved; service resumes when it returns', async (t) => {
  const watcher = await connectWs(b.wsUrl, { token: (await a.user('attendee')).token });
  t.teardown(() => watcher.close());
  await watcher.request({ type: 'session:join', sessionId: session.id });
  await a.call('PUT', `/chat/session/${session.id}/settings`, { token: moderator.token, body: { slowModeSeconds: 60 } });
  const before = await counts();
  for (const s of ['down', 'failing'] as const) {
    state = s;
    await t.rejects(chat.send(asker, { sessionId: session.id, text: `lost while ${s}`, clientMsgId: `c-${s}` }), { status: 503, code: 'unavailable' }, `${s}: unavailable`);
    t.same(await counts(), before, `${s}: no message, no count`);
  }
  const lost = await a.pool.query(`SELECT 1 FROM chat_messages WHERE text LIKE 'lost while%'`);
  t.equal(lost.rowCount, 0);
  state = 'up';
  const { message, created } = await chat.send(asker, { sessionId: session.id, text: 'back', clientMsgId: 'c-down' });
  t.ok(created, 'the same clientMsgId goes through once Redis is back: nothing of the failed try remained');
  t.equal((await watcher.next((f) => f.type === 'chat:message')).message.id, message.id, 'and is delivered on the other node');
  await t.rejects(chat.send(asker, { sessionId: session.id, text: 'too soon' }), { code: 'slow_mode' }, 'the slot was taken by the send that went through only');
});

t.test('Redis down: pins, deletions, settings and bans answer unavailable and change nothing', async (t) => {
  state = 'up';
  const { message } = await chat.send(principalOf({ id: moderator.id, role: 'moderator' }), { sessionId: session.id, text: 'pin me' });
  state = 'down';
  const mod = principalOf({ id: moderator.id, role: 'moderator' });
  await t.rejects(chat.pin(mod, message.id, true), { code: 'unavailable' });
  await t.rejects(chat.remove(mod, message.id), { code: 'unavailable' });
  await t.rejects(chat.updateSettings(mod, session.id, { enabled: false }), { code: 'unavailable' });
  await t.rejects(moderation.ban(mod, event.id, { userId: u.id }), { code: 'unavailable' });
  const h = await a.call('GET', `/chat/session/${session.id}`, { token: u.token });
  t.match(h.body.items.find((m: { id: string }) => m.id === message.id), { pinned: false }, 'not pinned, not deleted');
  t.equal(h.body.pinned, null);
  t.equal((await a.call('GET', `/chat/session/${session.id}/settings`, { token: u.token })).body.enabled, true);
  t.equal((await a.pool.query(`SELECT 1 FROM event_restrictions WHERE user_id = $1`, [u.id])).rowCount, 0, 'no ban kept');
  state = 'up';
});
