// Re-checking who may stay in the open rooms of this API node. A socket was admitted to a room
// by the read rule (events' visibility, bans); when that rule's inputs change — the user's role,
// the event's status or visibility, an attendee removed, the event deleted — every node re-checks
// the sockets concerned and takes out those that may no longer read, with a `room:closed` frame
// saying why. The decision is the moderation service's (roomAccess), never a copy here.
//
// "At once": a change is announced on the bus before the change's REST answer, and Redis hands
// each node the bus messages in the order they were published. The node holds the affected
// rooms' delivery queues from that message until the check is done, so no frame published after
// the change reaches a socket that lost access. A bus message can still be lost (pub/sub is
// at-most-once, e.g. while a node resubscribes after a Redis outage): a periodic round re-checks
// every room on the node (one query pair per event with local sockets, whatever their number).
import type { Log } from '../log.js';
import type { ModerationService, RoomAccess } from '../moderation/service.js';
import type { RoomName, ServerFrame } from './protocol.js';
import type { Conn, Rooms } from './rooms.js';

/** A room waits at most this long for a check: a slow database must not freeze its delivery. */
const HOLD_MAX_MS = 3_000;
/** Users per roomAccess query. */
const BATCH = 1_000;

export interface RoomChecks {
  /** Re-checks the event's rooms on this node (only this user's sockets when given); holds their delivery meanwhile. */
  event(eventId: string, userId: string | null): Promise<void>;
  /** Re-checks every room of the user's sockets on this node (their role changed); holds those rooms meanwhile. */
  user(userId: string): Promise<void>;
  /** Re-checks every room on this node, and refreshes sockets whose user's role changed unseen. */
  all(): Promise<void>;
  /** Bumped by every event or user re-check: a join admitted while one ran is checked again. */
  generation(): number;
  start(everyMs: number): void;
  stop(): void;
}

export function createRoomChecks(o: {
  rooms: Rooms;
  /** The user's sockets on this node. */
  userConns(userId: string): Iterable<Conn>;
  moderation: Pick<ModerationService, 'roomAccess'>;
  /** Takes the socket out of the room at once (presence follows). */
  exit(conn: Conn, room: RoomName): Promise<void>;
  send(conn: Conn, frame: ServerFrame): void;
  /** Looks the socket's user up again (their role changed without this node hearing of it). */
  refresh(conn: Conn): void;
  log: Log;
}): RoomChecks {
  let generation = 0;
  let timer: NodeJS.Timeout | undefined;
  let busy = false;

  /** The given sockets' rooms, by event. */
  function byEvent(conns: Iterable<Conn>, only?: string): Map<string, Conn[]> {
    const out = new Map<string, Conn[]>();
    for (const conn of conns) {
      for (const eventId of new Set(conn.rooms.values())) {
        if (only !== undefined && eventId !== only) continue;
        let list = out.get(eventId);
        if (!list) out.set(eventId, (list = []));
        list.push(conn);
      }
    }
    return out;
  }

  async function accessOf(eventId: string, conns: Conn[]): Promise<Map<string, RoomAccess>> {
    const users = [...new Set(conns.map((c) => c.principal.id))];
    const access = new Map<string, RoomAccess>();
    for (let i = 0; i < users.length; i += BATCH) {
      for (const [id, a] of await o.moderation.roomAccess(eventId, users.slice(i, i + BATCH))) access.set(id, a);
    }
    return access;
  }

  async function checkEvent(eventId: string, conns: Conn[], refreshRoles: boolean): Promise<void> {
    const access = await accessOf(eventId, conns);
    for (const conn of conns) {
      const a = access.get(conn.principal.id);
      if (!a) continue;
      if (refreshRoles && a.role !== null && a.role !== conn.principal.role) o.refresh(conn);
      if (!a.refusal) continue;
      for (const [room, ev] of [...conn.rooms]) {
        if (ev !== eventId || !conn.rooms.has(room)) continue;
        void o.exit(conn, room).catch(() => undefined); // leaves the room synchronously; presence after
        o.send(conn, { type: 'room:closed', room, code: a.refusal.code, reason: a.refusal.message });
      }
    }
  }

  /** Checks these events' sockets, holding their rooms' delivery until done (or HOLD_MAX_MS). */
  function checkHolding(targets: Map<string, Conn[]>, what: string): Promise<void> {
    generation++;
    const held = new Set<RoomName>();
    for (const [eventId, conns] of targets) for (const conn of conns) for (const [room, ev] of conn.rooms) if (ev === eventId) held.add(room);
    const done = (async () => {
      for (const [eventId, conns] of targets) await checkEvent(eventId, conns, false);
    })().catch((err: unknown) => {
      // open rooms stay as they are; the periodic round tries again
      o.log.warn({ err: (err as Error).message, what }, 'Could not re-check open rooms now; the periodic round will.');
    });
    let t: NodeJS.Timeout | undefined;
    const bounded = Promise.race([done, new Promise((r) => (t = setTimeout(r, HOLD_MAX_MS)))]).finally(() => clearTimeout(t));
    for (const room of held) o.rooms.hold(room, bounded);
    return done;
  }

  /** One round over every room here, an event at a time (at most one round at once). */
  async function all(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      for (const [eventId, conns] of byEvent(o.rooms.conns())) {
        await checkEvent(eventId, conns, true).catch((err: unknown) => {
          o.log.warn({ err: (err as Error).message, eventId }, 'The periodic re-check of open rooms failed for an event; it runs again next round.');
        });
      }
    } finally {
      busy = false;
    }
  }

  return {
    event: (eventId, userId) => checkHolding(byEvent(userId ? o.userConns(userId) : o.rooms.conns(), eventId), `event ${eventId}`),
    user: (userId) => checkHolding(byEvent(o.userConns(userId)), `user ${userId}`),
    all,
    generation: () => generation,
    start(everyMs) {
      timer = setInterval(() => void all(), everyMs).unref();
    },
    stop: () => clearInterval(timer),
  };
}
