// `relay:status`: a relay destination's status reaches the session rooms of its stream's open
// sessions — but only staff and those sessions' speakers in them, never attendees (per-role
// delivery: rooms.deliver with `only`). The relay announces each status it writes on the bus
// (`relay.status`, src/relays/status.ts); every API node hears it and delivers to its own sockets.
// Like stream-status.ts, the frame is made from the row read at delivery, never from the message.
import type { Log } from '../log.js';
import type { Bus } from '../redis/bus.js';
import { sessionRoom, type RoomName, type ServerFrame } from './protocol.js';
import type { Conn } from './rooms.js';

export type RelayStatusFrame = Extract<ServerFrame, { type: 'relay:status' }>;
const STAFF_ROLES: readonly string[] = ['admin', 'moderator'];

/** What the frames are made from (wired in the composition root). */
export interface RelayStatusSource {
  destination(destinationId: string): Promise<{ streamId: string; name: string; status: RelayStatusFrame['status']; lastError: string | null } | null>;
  /** The stream's sessions whose window is open now. */
  sessionsOf(streamId: string): Promise<string[]>;
  /** Each session's speakers (user ids). */
  speakersOf(sessionIds: string[]): Promise<Map<string, Set<string>>>;
}

/** Who in a session room may see its relays: staff, and that session's speakers. */
export const maySeeRelays = (speakers: ReadonlySet<string>) => (conn: Conn) => STAFF_ROLES.includes(conn.principal.role) || speakers.has(conn.principal.id);

export function relayRelayStatus(o: { source: RelayStatusSource; bus: Bus; deliver(room: RoomName, frame: ServerFrame, only: (conn: Conn) => boolean): void; log: Log }): void {
  async function deliver(streamId: string, destinationId: string) {
    const d = await o.source.destination(destinationId);
    if (!d || d.streamId !== streamId) return; // removed (or moved) meanwhile: nothing to tell
    const sessions = await o.source.sessionsOf(streamId);
    if (sessions.length === 0) return;
    const speakers = await o.source.speakersOf(sessions);
    for (const sessionId of sessions) {
      const frame: RelayStatusFrame = { type: 'relay:status', sessionId, streamId, destinationId, name: d.name, status: d.status, lastError: d.lastError };
      o.deliver(sessionRoom(sessionId), frame, maySeeRelays(speakers.get(sessionId) ?? new Set()));
    }
  }
  void o.bus.subscribe('relay.status', ({ streamId, destinationId }) => {
    deliver(streamId, destinationId).catch((err: unknown) =>
      o.log.warn({ err: (err as Error).message, streamId, destinationId }, 'Could not tell the session rooms a relay destination’s status.'),
    );
  });
}
