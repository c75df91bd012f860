// Cross-node fan-out. A frame is serialised once by the node that publishes it and travels on
// Redis pub/sub; every node — the publisher's included — delivers only what Redis hands it, so
// everyone in a room sees one order. Redis down: publishing fails at once with `unavailable`.
// Frames that report a committed change (chat, polls, questions) do not come here directly:
// they go through the outbox (outbox.ts), which publishes them with publishData after COMMIT.
import { unavailable } from '../errors.js';
import type { Bus, BusMessages } from '../redis/bus.js';
import type { RoomName, ServerFrame } from './protocol.js';
import type { Rooms } from './rooms.js';

const PUBLISH_TIMEOUT_MS = 2_000;

export interface Hub {
  /** Sends a frame to everyone in the room on every node. Throws 503 when Redis is unreachable. */
  publish(room: RoomName, frame: ServerFrame): Promise<void>;
  /** The same, for a frame already serialised (the outbox stores them that way). */
  publishData(room: RoomName, data: string): Promise<void>;
  /** Takes a user out of an event's rooms on every node (a ban), telling their sockets why. */
  kick(userId: string, eventId: string, reason: string): Promise<void>;
}

export function createHub(opts: { bus: Bus; rooms?: Rooms }): Hub {
  const { bus } = opts;
  if (opts.rooms) {
    const rooms = opts.rooms;
    // encoded once per node, then the same bytes go to every local socket
    void bus.subscribe('realtime.frame', (m) => rooms.deliver(m.room as RoomName, Buffer.from(m.data)));
  }
  const send = async <T extends 'realtime.frame' | 'realtime.kick'>(topic: T, message: BusMessages[T]) => {
    if (!bus.ready()) throw unavailable('Live updates are unavailable for a moment (Redis is unreachable); try again shortly.');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        bus.publish(topic, message),
        new Promise((_r, reject) => (timer = setTimeout(() => reject(new Error('timeout')), PUBLISH_TIMEOUT_MS))),
      ]);
    } catch {
      throw unavailable('Live updates are unavailable for a moment (Redis is unreachable); try again shortly.');
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    publish: (room, frame) => send('realtime.frame', { room, data: JSON.stringify(frame) }),
    publishData: (room, data) => send('realtime.frame', { room, data }),
    kick: (userId, eventId, reason) => send('realtime.kick', { userId, eventId, reason }),
  };
}
