// `stream:status`: a stream's transitions reach the room of the session its broadcast belongs to
// (the session whose window was open when the publish began: analytics/playback-gate.ts
// openSessions), and a socket joining a session room is told the current state right after its
// ack — so a player page can start when the stream goes live and say "ended" when it ends,
// without polling. The stream core announces each transition once on the bus (`stream.status`);
// every API node hears it and delivers to its own sockets (nothing is re-published). The bus says
// "look again": the frame carries the state read from Postgres at delivery, never the message's.
import type { Log } from '../log.js';
import type { Bus } from '../redis/bus.js';
import { sessionRoom, type RoomName, type ServerFrame } from './protocol.js';

export type StreamStatusFrame = Extract<ServerFrame, { type: 'stream:status' }>;

/** What the frames are made from (wired in the composition root). */
export interface StreamStatusSource {
  /** The stream's state; null for an unknown stream. */
  statusOf(streamId: string): Promise<{
    status: StreamStatusFrame['status'];
    renditions: { name: string; width: number; height: number }[];
    reason: string | null;
    startedAt: Date | null;
    publishing: boolean;
  } | null>;
  /** The stream's sessions whose window is open at that moment (now when null). */
  sessionsAt(streamId: string, at: Date | null): Promise<string[]>;
}

export interface StreamStatusRelay {
  /** The frame a session's room shows now (a session without a stream, or not the broadcast's: offline). */
  frameFor(sessionId: string, streamId: string | null): Promise<StreamStatusFrame>;
}

export function relayStreamStatus(o: { source: StreamStatusSource; bus: Bus; deliver(room: RoomName, frame: ServerFrame): void; log: Log }): StreamStatusRelay {
  const offline = (sessionId: string): StreamStatusFrame => ({ type: 'stream:status', sessionId, status: 'offline', renditions: [] });
  /**
   * The session rooms this node last told about each stream: a deleted stream (DELETE ?force=true)
   * can no longer be read, and its broadcast's rooms still need their `offline`.
   */
  const toldRooms = new Map<string, Set<string>>();

  /** The stream's frame for each session its broadcast belongs to. */
  async function framesOf(streamId: string): Promise<StreamStatusFrame[]> {
    const s = await o.source.statusOf(streamId);
    if (!s) {
      const rooms = toldRooms.get(streamId);
      toldRooms.delete(streamId);
      return [...(rooms ?? [])].map(offline);
    }
    // the latest publish's start decides the session; a stream that never published: the open one now
    let sessions = await o.source.sessionsAt(streamId, s.startedAt);
    const renditions = s.renditions.map(({ name, width, height }) => ({ name, width, height }));
    if (sessions.length > 0) toldRooms.set(streamId, new Set(sessions));
    else if (s.status === 'offline' || s.status === 'failed') {
      // the broadcast's session is no longer the stream's (unassigned, e.g. a forced DELETE
      // between the two reads): the rooms that watched it still learn that it ended
      sessions = [...(toldRooms.get(streamId) ?? [])];
      toldRooms.delete(streamId);
    }
    return sessions.map((sessionId) => ({
      type: 'stream:status',
      sessionId,
      status: s.status,
      // while reconnecting the playlists (and so the renditions) go on
      renditions: s.status === 'live' || s.status === 'reconnecting' ? renditions : [],
      ...(s.publishing && s.startedAt ? { startedAt: s.startedAt.toISOString() } : {}),
      ...(s.reason ? { reason: s.reason } : {}),
    }));
  }

  void o.bus.subscribe('stream.status', ({ streamId }) => {
    framesOf(streamId).then(
      (frames) => {
        for (const f of frames) o.deliver(sessionRoom(f.sessionId), f);
      },
      (err: unknown) => o.log.warn({ err: (err as Error).message, streamId }, 'Could not tell the session rooms a stream’s new status.'),
    );
  });

  return {
    async frameFor(sessionId, streamId) {
      if (!streamId) return offline(sessionId);
      return (await framesOf(streamId)).find((f) => f.sessionId === sessionId) ?? offline(sessionId);
    },
  };
}
