// Room re-checks with Redis frozen (a Redis of this file's own): an access change still answers
// (its announcement waits a bounded time, then gives up), and the node's periodic round, which
// needs only Postgres, takes out the socket that may no longer read.
import t from 'tap';
import { NO_RATE_LIMITS, startTestApi } from '../testing/api.js';
import { privateServices } from '../testing/private-services.js';
import { joinedSession } from '../testing/ws.js';

const { redis } = await privateServices(t);
const api = await startTestApi(t, { redisUrl: redis.url, env: { ...NO_RATE_LIMITS, ROOM_RECHECK_SECONDS: '2' } });
t.teardown(() => redis.thaw()); // never leave it stopped, whatever fails
const admin = await api.user('admin');
const u = await api.user('attendee');
const { event, session } = await api.liveSession(admin.token);
const ws = await joinedSession(api.wsUrl, u.token, session.id);
t.teardown(() => ws.close());

t.test('with Redis frozen, an event set back to draft answers at once and its rooms follow within a round', async (t) => {
  redis.freeze();
  try {
    const started = Date.now();
    const answer = await Promise.race([
      api.call('PUT', `/events/${event.id}`, { token: admin.token, body: { status: 'draft' } }),
      new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('PUT /events/:id did not answer within 15 s')), 15_000)),
    ]);
    t.equal(answer.status, 200);
    t.ok(Date.now() - started < 10_000, `answered in ${Date.now() - started} ms (the announcement gives up after 2 s)`);
    t.match(await ws.next((f) => f.type === 'room:closed', { timeoutMs: 10_000 }), { room: `session:${session.id}`, code: 'forbidden' }, 'the periodic round needs no Redis');
  } finally {
    redis.thaw();
  }
});
