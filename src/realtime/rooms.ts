// Local room membership and delivery on this API node. A frame arrives already serialised (once,
// by whoever published it) and is written to every local socket in its room. A socket that
// cannot keep up — its send buffer over the soft limit for too long, or over the hard limit —
// is closed (the client reconnects and resyncs over REST), so a slow reader never grows memory.
import type { WebSocket } from 'ws';
import type { Principal } from '../principal.js';
import type { Log } from '../log.js';
import type { ApiMetrics } from '../metrics.js';
import type { RoomName } from './protocol.js';

export const SOFT_BUFFER_BYTES = 256 * 1024;
export const HARD_BUFFER_BYTES = 1024 * 1024;
export const SLOW_FOR_MS = 5_000;
export const CLOSE_TOO_SLOW = 4008;
/** Sockets written per turn of the event loop when a room is large (database replies interleave). */
const SLICE = 256;

export interface Conn {
  id: string;
  ws: WebSocket;
  principal: Principal;
  name: string;
  /** Looks the socket's user up again (role changed, device still signed in?). */
  recheck(): Promise<Principal>;
  /** Rooms this socket is in, each with the event it belongs to. */
  rooms: Map<RoomName, string>;
  slowSince: number | null;
}

export interface Rooms {
  join(conn: Conn, room: RoomName, eventId: string): boolean;
  leave(conn: Conn, room: RoomName): boolean;
  leaveAll(conn: Conn): RoomName[];
  /**
   * Queues a frame for everyone in the room — or, with `only`, for the sockets it accepts (per-role
   * delivery: staff and the session's speakers, never attendees); frames of a room go out in the
   * order they came. `only` is asked when the frame is written, so who left or changed role by then counts.
   */
  deliver(room: RoomName, data: Buffer, only?: (conn: Conn) => boolean): void;
  /**
   * Frames queued for the room after this call wait until `until` settles (a re-check of who may
   * stay is taking members out: what came after the change must not reach them).
   */
  hold(room: RoomName, until: Promise<unknown>): void;
  send(conn: Conn, data: string | Buffer): void;
  /** Distinct users in a room on this node. */
  usersIn(room: RoomName): Set<string>;
  /** How many of this user's sockets on this node are in the room. */
  userSockets(room: RoomName, userId: string): number;
  localRooms(): RoomName[];
  conns(): Iterable<Conn>;
  add(conn: Conn): void;
  remove(conn: Conn): void;
  /** Counts a frame a client sent (metrics). */
  received(): void;
  readonly droppedSlow: number;
}

export function createRooms(opts: { log: Log; now?: () => number; metrics?: ApiMetrics }): Rooms {
  const metrics = opts.metrics;
  const now = opts.now ?? Date.now;
  const members = new Map<RoomName, Set<Conn>>();
  // per room: user → how many of their sockets are in it (presence asks on every join and leave)
  const perUser = new Map<RoomName, Map<string, number>>();
  const all = new Set<Conn>();
  let droppedSlow = 0;

  /** Writes to one socket; false when it was not written (closed, or closed now for being slow). */
  const write = (conn: Conn, data: string | Buffer): boolean => {
    const ws = conn.ws;
    if (ws.readyState !== ws.OPEN) return false;
    const buffered = ws.bufferedAmount;
    if (buffered > SOFT_BUFFER_BYTES) {
      conn.slowSince ??= now();
      if (buffered > HARD_BUFFER_BYTES || now() - conn.slowSince > SLOW_FOR_MS) {
        droppedSlow++;
        metrics?.wsSlowClientsDropped.inc();
        opts.log.info({ userId: conn.principal.id, buffered }, 'Closed a WebSocket that could not keep up.');
        ws.close(CLOSE_TOO_SLOW, 'too slow');
        ws.terminate();
        return false;
      }
    } else conn.slowSince = null;
    ws.send(data, { binary: false }); // a Buffer goes out as a text frame, with no re-encoding per socket
    return true;
  };
  const send = (conn: Conn, data: string | Buffer) => {
    if (write(conn, data)) metrics?.wsFramesSent.inc();
  };

  // One queue per room: a large room is written in slices that yield to the event loop, and the
  // next frame starts only when the previous one reached every socket, so each socket sees the
  // room's frames in order.
  type Item = { data: Buffer; only?: (conn: Conn) => boolean } | Promise<unknown>;
  const queues = new Map<RoomName, Item[]>();
  async function drain(room: RoomName, queue: Item[]) {
    try {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        if (item instanceof Promise) {
          await item.catch(() => undefined);
          continue;
        }
        const { data, only } = item;
        const targets = [...(members.get(room) ?? [])].filter((c) => !only || only(c));
        let sent = 0;
        for (let i = 0; i < targets.length; i++) {
          // a socket taken out of the room while a large room is written in slices gets no more of it
          if (targets[i]!.rooms.has(room) && write(targets[i]!, data)) sent++;
          if ((i + 1) % SLICE === 0 && i + 1 < targets.length) await new Promise((r) => setImmediate(r));
        }
        metrics?.wsFramesSent.inc(sent); // once per frame, not once per socket
      }
    } finally {
      queues.delete(room);
    }
  }

  const enqueue = (room: RoomName, item: Item) => {
    const queue = queues.get(room);
    if (queue) return void queue.push(item);
    const fresh = [item];
    queues.set(room, fresh);
    void drain(room, fresh);
  };

  return {
    join(conn, room, eventId) {
      if (conn.rooms.has(room)) return false;
      conn.rooms.set(room, eventId);
      let set = members.get(room);
      if (!set) members.set(room, (set = new Set()));
      set.add(conn);
      let users = perUser.get(room);
      if (!users) perUser.set(room, (users = new Map()));
      users.set(conn.principal.id, (users.get(conn.principal.id) ?? 0) + 1);
      return true;
    },
    leave(conn, room) {
      if (!conn.rooms.delete(room)) return false;
      const set = members.get(room);
      set?.delete(conn);
      if (set?.size === 0) members.delete(room);
      const users = perUser.get(room);
      const left = (users?.get(conn.principal.id) ?? 1) - 1;
      if (left > 0) users!.set(conn.principal.id, left);
      else users?.delete(conn.principal.id);
      if (users?.size === 0) perUser.delete(room);
      return true;
    },
    leaveAll(conn) {
      const left = [...conn.rooms.keys()];
      for (const room of left) this.leave(conn, room);
      return left;
    },
    deliver(room, data, only) {
      if (members.has(room)) enqueue(room, { data, only });
    },
    hold(room, until) {
      if (members.has(room)) enqueue(room, until);
    },
    send,
    usersIn: (room) => new Set(perUser.get(room)?.keys() ?? []),
    userSockets: (room, userId) => perUser.get(room)?.get(userId) ?? 0,
    localRooms: () => [...members.keys()],
    conns: () => all,
    add(conn) {
      if (!all.has(conn)) metrics?.wsConnections.inc();
      all.add(conn);
    },
    remove(conn) {
      if (all.delete(conn)) metrics?.wsConnections.dec();
    },
    received() {
      metrics?.wsFramesReceived.inc();
    },
    get droppedSlow() {
      return droppedSlow;
    },
  };
}
