// Per-connection token buckets: the overall budget and the per-type ones refill with time.
import t from 'tap';
import { createLimiter } from './limits.js';

t.test('chat has its own bucket, refilled over time, with a retry hint', async (t) => {
  let now = 0;
  const limiter = createLimiter({ all: { burst: 100, perSecond: 100 }, 'chat:send': { burst: 2, perSecond: 1 } }, () => now);
  const conn = {};
  limiter.take(conn, 'chat:send');
  limiter.take(conn, 'chat:send');
  const err = t.throws(() => limiter.take(conn, 'chat:send')) as unknown as { code: string; details: { retryAfterSeconds: number }; message: string };
  t.same([err.code, err.details.retryAfterSeconds], ['rate_limited', 1]);
  t.match(err.message, /messages too fast/);
  limiter.take(conn, 'typing');
  limiter.take({}, 'chat:send'); // another connection has its own buckets
  now += 1000;
  t.doesNotThrow(() => limiter.take(conn, 'chat:send'), 'refilled after a second');
});

t.test('the overall budget covers every frame type', async (t) => {
  const limiter = createLimiter({ all: { burst: 3, perSecond: 1 } }, () => 0);
  const conn = {};
  for (let i = 0; i < 3; i++) limiter.take(conn, 'session:join');
  t.throws(() => limiter.take(conn, 'typing'), { code: 'rate_limited' });
});
