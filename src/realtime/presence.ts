// Viewer counts per session, across API nodes, counting people not sockets.
// Each node keeps one member per (user, node) in a Redis sorted set per session, scored with an
// expiry it refreshes every few seconds; a user leaving their last local socket is removed at
// once, a node that dies ages out within PRESENCE_TTL_MS. Once a second, one node per session
// (whoever takes the tick lock) counts the distinct users and broadcasts `viewers:count` when
// the number changed — at most once a second per session, whatever the number of nodes — and
// again every RESEND_MS even if unchanged: pub/sub delivers at most once (a node resubscribing
// after a Redis outage misses what was published meanwhile), so a lost count heals by itself.
import type { Log } from '../log.js';
import type { Redis } from '../redis/connection.js';
import type { Hub } from './hub.js';
import { sessionRoom, type RoomName } from './protocol.js';
import type { Rooms } from './rooms.js';

export const PRESENCE_TTL_MS = 15_000;
const REFRESH_MS = 5_000;
const TICK_MS = 1_000;
const STEP_TIMEOUT_MS = 3_000;
const RESEND_MS = 5_000;

// KEYS: members zset, last-broadcast count, tick lock. ARGV: now, ttl, tick ms, force, resend ms.
// force '1' (a socket just joined): the last broadcast count if there is one — O(1), so filling a
// big room stays cheap; the next tick brings the exact number.
const COUNT_SCRIPT = `
if ARGV[4] == '1' then
  local known = redis.call('GET', KEYS[2])
  if known then return tonumber(known) end
end
local won = redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3])
if not won and ARGV[4] ~= '1' then return -1 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local seen = {}
local n = 0
for _, m in ipairs(members) do
  local uid = string.match(m, '^([^|]+)|')
  if uid and not seen[uid] then seen[uid] = true; n = n + 1 end
end
if ARGV[4] == '1' then return n end
local last = redis.call('GET', KEYS[2])
if last == tostring(n) then return -1 end
redis.call('SET', KEYS[2], n, 'PX', ARGV[5])
return n
`;

export interface Presence {
  /** A socket of the user entered the session room on this node. */
  entered(sessionId: string, userId: string): Promise<void>;
  /** A socket left; when it was the user's last one here, the user leaves this node's count. */
  left(sessionId: string, userId: string): Promise<void>;
  /** The count to show a socket that just joined (the last broadcast one, exact within a second). */
  count(sessionId: string): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createPresence(o: { redis: Redis; prefix: string; nodeId: string; rooms: Rooms; hub: Hub; log: Log }): Presence {
  const { redis } = o;
  const key = (sessionId: string) => `${o.prefix}:presence:${sessionId}`;
  const member = (userId: string) => `${userId}|${o.nodeId}`;
  const run = (sessionId: string, force: boolean) =>
    redis.eval(COUNT_SCRIPT, 3, key(sessionId), `${key(sessionId)}:last`, `${key(sessionId)}:tick`, Date.now(), PRESENCE_TTL_MS, TICK_MS - 50, force ? '1' : '0', RESEND_MS) as Promise<number>;
  const sessionsHere = () => o.rooms.localRooms().filter((r) => r.startsWith('session:')).map((r) => r.slice('session:'.length));
  const timers: NodeJS.Timeout[] = [];
  let running = false;

  async function refresh() {
    const pipeline = redis.pipeline();
    const expiry = Date.now() + PRESENCE_TTL_MS;
    for (const sessionId of sessionsHere()) {
      const users = o.rooms.usersIn(sessionRoom(sessionId));
      if (users.size === 0) continue;
      pipeline.zadd(key(sessionId), ...[...users].flatMap((u) => [expiry, member(u)]));
      pipeline.pexpire(key(sessionId), PRESENCE_TTL_MS * 2);
    }
    if (pipeline.length > 0) await pipeline.exec();
  }

  async function tick() {
    for (const sessionId of sessionsHere()) {
      const n = await run(sessionId, false);
      if (n < 0) continue;
      try {
        await o.hub.publish(sessionRoom(sessionId) as RoomName, { type: 'viewers:count', sessionId, count: n });
      } catch (err) {
        // the script already recorded n as broadcast; forget it so the next tick sends it again
        // (the pub/sub connection can come back later than this one after a Redis outage)
        await redis.del(`${key(sessionId)}:last`).catch(() => undefined);
        throw err;
      }
    }
  }

  const every = (ms: number, fn: () => Promise<void>, what: string) => {
    let busy = false;
    timers.push(
      setInterval(() => {
        if (busy || !running) return;
        busy = true;
        // a command caught in a Redis reconnect may never settle: give up on it so the next
        // round runs (otherwise counts could stay frozen after an outage)
        let timer: NodeJS.Timeout | undefined;
        const gaveUp = new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error('timed out')), STEP_TIMEOUT_MS)));
        Promise.race([fn(), gaveUp])
          .catch((err: unknown) => o.log.debug({ err: (err as Error).message }, `Presence ${what} skipped (Redis unreachable?).`))
          .finally(() => {
            clearTimeout(timer);
            busy = false;
          });
      }, ms).unref(),
    );
  };

  return {
    async entered(sessionId, userId) {
      await redis.zadd(key(sessionId), Date.now() + PRESENCE_TTL_MS, member(userId));
      await redis.pexpire(key(sessionId), PRESENCE_TTL_MS * 2);
    },
    async left(sessionId, userId) {
      if (o.rooms.userSockets(sessionRoom(sessionId), userId) === 0) await redis.zrem(key(sessionId), member(userId));
    },
    count: (sessionId) => run(sessionId, true),
    start() {
      running = true;
      every(REFRESH_MS, refresh, 'refresh');
      every(TICK_MS, tick, 'count');
    },
    async stop() {
      running = false;
      for (const t of timers) clearInterval(t);
      // leave the counts at once rather than after the TTL
      const pipeline = redis.pipeline();
      for (const sessionId of sessionsHere()) for (const u of o.rooms.usersIn(sessionRoom(sessionId))) pipeline.zrem(key(sessionId), member(u));
      if (pipeline.length > 0) await pipeline.exec().catch(() => undefined);
    },
  };
}
