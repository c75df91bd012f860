// Presence against a real Redis: a count whose broadcast failed is sent again on the next tick
// (after a Redis outage the pub/sub connection can come back later than the command one).
import t from 'tap';
import type { WebSocket } from 'ws';
import { silentLog } from '../log.js';
import { createRedis } from '../redis/connection.js';
import { randomId, testEnv, waitFor } from '../testing/harness.js';
import type { Hub } from './hub.js';
import { createPresence } from './presence.js';
import type { ServerFrame } from './protocol.js';
import { createRooms, type Conn } from './rooms.js';

t.test('a viewer count whose broadcast failed is broadcast again', async (t) => {
  const redis = createRedis({ url: testEnv().redisUrl, log: silentLog(), purpose: 'test' });
  t.teardown(() => redis.disconnect());
  const rooms = createRooms({ log: silentLog() });
  const sent: ServerFrame[] = [];
  let failures = 1;
  const hub: Hub = {
    async publish(_room, frame) {
      if (failures-- > 0) throw new Error('pub/sub connection not back yet');
      sent.push(frame);
    },
    async publishData() {},
    async kick() {},
  };
  const presence = createPresence({ redis, prefix: `t${randomId()}`, nodeId: 'n1', rooms, hub, log: silentLog() });
  const ws = { OPEN: 1, readyState: 1, bufferedAmount: 0, send() {}, close() {}, terminate() {} };
  const conn: Conn = { id: 'c1', ws: ws as unknown as WebSocket, principal: { id: 'u1', role: 'attendee', deviceId: 'd1', expiresAt: Infinity }, name: 'u1', recheck: () => Promise.reject(new Error('unused')), rooms: new Map(), slowSince: null };
  rooms.join(conn, 'session:s1', 'e1');
  await presence.entered('s1', 'u1');
  presence.start();
  t.teardown(() => presence.stop());
  const frame = await waitFor(async () => sent[0] ?? null, { what: 'the count to be broadcast', timeoutMs: 5_000, intervalMs: 100 });
  t.same(frame, { type: 'viewers:count', sessionId: 's1', count: 1 });
  t.equal(failures, -1, 'the first broadcast failed, the second one went out');
});
