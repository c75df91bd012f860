// Puts the WebSocket endpoint on an API node's HTTP server, from the same deps as the REST app.
import type { Server } from 'node:http';
import type { AppDeps } from './app.js';
import type { Bus } from '../../redis/bus.js';
import { featureHandlers } from './ws-handlers.js';
import type { Limits } from '../../realtime/limits.js';
import { openSessions } from '../../analytics/playback-gate.js';
import { createPresence } from '../../realtime/presence.js';
import { relayStreamStatus } from '../../realtime/stream-status.js';
import { relayRelayStatus } from '../../realtime/relay-status.js';
import { destinationById } from '../../relays/repo.js';
import { speakerIdsOf } from '../../events/sessions-repo.js';
import { attachRealtime, type Realtime } from '../../realtime/server.js';

export function attachWebSockets(server: Server, deps: AppDeps, o: { bus: Bus; nodeId: string; limits?: Limits }): Realtime {
  const presence = createPresence({ redis: deps.redis, prefix: deps.config.redisPrefix, nodeId: o.nodeId, rooms: deps.rooms, hub: deps.hub, log: deps.log });
  // every API node sweeps the outbox: frames whose node could not publish them go out from here
  deps.outbox.start();
  const sessionsNow = async (streamId: string, at: Date | null) => (await openSessions(deps.db, { ...deps.config.playbackWindow, streamId, at: at ?? undefined })).map((s) => s.id);
  // relay destinations' status: to staff and the session's speakers in the room, never attendees
  relayRelayStatus({
    source: {
      destination: (id) => destinationById(deps.db, id),
      sessionsOf: (streamId) => sessionsNow(streamId, null),
      speakersOf: (ids) => speakerIdsOf(deps.db, ids),
    },
    bus: o.bus,
    deliver: (room, frame, only) => deps.rooms.deliver(room, Buffer.from(JSON.stringify(frame)), only),
    log: deps.log,
  });
  const realtime = attachRealtime(server, {
    log: deps.log,
    bus: o.bus,
    auth: deps.auth,
    tickets: deps.tickets,
    users: deps.users,
    events: deps.events,
    moderation: deps.moderation,
    hub: deps.hub,
    rooms: deps.rooms,
    presence,
    handlers: featureHandlers(deps),
    corsOrigin: deps.config.corsOrigin,
    limits: o.limits,
    refusalHoldMs: deps.config.rateLimitHoldMs,
    roomRecheckMs: deps.config.roomRecheckSeconds * 1000,
    // which session a broadcast belongs to: the one whose window was open when its publish began
    streamStatus: relayStreamStatus({
      source: {
        statusOf: (streamId) => deps.streams.broadcastStatus(streamId),
        sessionsAt: sessionsNow,
      },
      bus: o.bus,
      deliver: (room, frame) => deps.rooms.deliver(room, Buffer.from(JSON.stringify(frame))),
      log: deps.log,
    }),
  });
  return {
    ...realtime,
    async close() {
      await deps.outbox.stop();
      await realtime.close();
    },
  };
}
