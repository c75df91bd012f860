// The WebSocket endpoint (/ws) on an API node: authenticates the upgrade with the same token and
// device check as REST, validates every frame against the protocol, handles room membership,
// presence and typing itself and hands every other frame type to its feature's handler (the
// same service code REST calls). Frames of one socket are handled one after another, so a
// client's own actions keep their order. Dead sockets go by heartbeat; signed-out, revoked and
// expired tokens close their sockets; a banned user is taken out of the event's rooms, and so is
// anyone who may no longer read an event after a change (room-checks.ts).
import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuthService } from '../auth/service.js';
import { isConnectionFailure } from '../db/pool.js';
import { AppError, unauthorized } from '../errors.js';
import type { EventsService } from '../events/service.js';
import { findNul } from '../http/errors.js';
import type { Principal } from '../principal.js';
import type { Log } from '../log.js';
import type { ModerationService } from '../moderation/service.js';
import type { Bus } from '../redis/bus.js';
import type { UsersService } from '../users/service.js';
import type { Hub } from './hub.js';
import type { Presence } from './presence.js';
import { clientFrame, eventRoom, MAX_FRAME_BYTES, sessionRoom, type ClientFrame, type ClientType, type RoomName, type ServerFrame } from './protocol.js';
import type { Conn, Rooms } from './rooms.js';
import { createLimiter, type Limits } from './limits.js';
import { createRoomChecks } from './room-checks.js';
import { credentialOf, idOf, refuse } from './upgrade.js';
import type { StreamStatusRelay } from './stream-status.js';
import type { Tickets } from './tickets.js';

export const CLOSE_SIGNED_OUT = 4401;
export const CLOSE_SHUTDOWN = 1001;
const HEARTBEAT_MS = 15_000;
const MAX_SOCKETS_PER_USER = 20;
const MAX_PENDING_FRAMES = 64;
/** Frames dropped unanswered (sent on after `busy`) before the socket is closed as a flood. */
const MAX_DROPPED_FRAMES = 256;
export const CLOSE_FLOODING = 1008;

export interface WsCtx {
  conn: Conn;
  principal: Principal;
  /** Sends a frame to this socket only. */
  send(frame: ServerFrame): void;
  /** Runs once the frame's ack has been sent (only if it succeeded). */
  afterAck(fn: () => Promise<void>): void;
}

export type WsHandlers = { [T in ClientType]?: (ctx: WsCtx, frame: Extract<ClientFrame, { type: T }>) => Promise<void> };

export interface RealtimeDeps {
  log: Log;
  bus: Bus;
  auth: AuthService;
  tickets: Tickets;
  users: UsersService;
  events: EventsService;
  moderation: Pick<ModerationService, 'assertMayRead' | 'take' | 'roomAccess'>;
  hub: Hub;
  rooms: Rooms;
  presence: Presence;
  handlers: WsHandlers;
  corsOrigin: string;
  limits?: Limits;
  /**
   * After a `rate_limited` or `busy` refusal the socket is not read for about this long (TCP
   * backpressure: a flooding client's frames wait in its own buffers, costing this node nothing;
   * REST holds its refusals the same way). Frames already received are still answered.
   */
  refusalHoldMs?: number;
  /** How often every open room on this node is re-checked (heals a lost re-check message); default 30 s. */
  roomRecheckMs?: number;
  /** Tells a socket joining a session room the state of its broadcast (stream-status.ts). */
  streamStatus?: StreamStatusRelay;
}

export interface Realtime {
  close(): Promise<void>;
  stats(): { connections: number; droppedSlow: number };
}

export function attachRealtime(server: Server, deps: RealtimeDeps): Realtime {
  const { log, rooms, presence } = deps;
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  const limiter = createLimiter(deps.limits);
  const byUser = new Map<string, Set<Conn>>();

  const sendFrame = (conn: Conn, frame: ServerFrame) => rooms.send(conn, JSON.stringify(frame));
  const held = new WeakSet<Conn>();
  const holdReading = (conn: Conn) => {
    if (!deps.refusalHoldMs || held.has(conn)) return;
    held.add(conn);
    conn.ws.pause();
    setTimeout(() => (held.delete(conn), conn.ws.resume()), deps.refusalHoldMs * (0.5 + Math.random())).unref();
  };
  const closeConn = (conn: Conn, code: number, reason: string) => {
    conn.ws.close(code, reason);
    setTimeout(() => conn.ws.terminate(), 1_000).unref();
  };

  /** `generation`: the room checks' generation before the admission was decided. */
  async function enter(conn: Conn, o: { room: RoomName; eventId: string; sessionId: string | null; generation: number }) {
    const { room, eventId, sessionId } = o;
    await deps.moderation.assertMayRead(conn.principal, eventId);
    if (!rooms.join(conn, room, eventId)) return;
    // a change announced while this join was being decided may have been checked without it
    if (checks.generation() !== o.generation) void checks.event(eventId, conn.principal.id);
    if (!sessionId) return;
    // Presence is best effort: with Redis away the join still works here, and the next refresh
    // counts this viewer once Redis is back.
    try {
      await presence.entered(sessionId, conn.principal.id);
      sendFrame(conn, { type: 'viewers:count', sessionId, count: await presence.count(sessionId) });
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'Presence not updated on join (Redis unreachable?).');
    }
  }

  async function exit(conn: Conn, room: RoomName) {
    if (!rooms.leave(conn, room)) return;
    if (room.startsWith('session:')) await presence.left(room.slice('session:'.length), conn.principal.id).catch(() => undefined); // ages out if Redis is away
  }

  const refresh = (conn: Conn) =>
    conn.recheck().then(
      (p) => (conn.principal = p),
      () => closeConn(conn, CLOSE_SIGNED_OUT, 'signed out'),
    );
  const checks = createRoomChecks({ rooms, userConns: (userId) => byUser.get(userId) ?? [], moderation: deps.moderation, exit, send: sendFrame, refresh, log });

  const typingAt = new WeakMap<Conn, Map<string, number>>();
  const builtIn: WsHandlers = {
    'event:join': async ({ conn, principal }, f) => {
      const generation = checks.generation();
      const event = await deps.events.get(principal, f.eventId);
      await enter(conn, { room: eventRoom(event.id), eventId: event.id, sessionId: null, generation });
    },
    'event:leave': async ({ conn }, f) => exit(conn, eventRoom(f.eventId)),
    'session:join': async ({ conn, principal, afterAck }, f) => {
      const generation = checks.generation();
      const { event, session } = await deps.events.session(principal, f.sessionId);
      await enter(conn, { room: sessionRoom(session.id), eventId: event.id, sessionId: session.id, generation });
      const status = deps.streamStatus;
      if (status) afterAck(async () => sendFrame(conn, await status.frameFor(session.id, session.streamId)));
    },
    'session:leave': async ({ conn }, f) => exit(conn, sessionRoom(f.sessionId)),
    typing: async ({ conn }, f) => {
      const room = sessionRoom(f.sessionId);
      if (!conn.rooms.has(room)) throw new AppError(409, 'not_in_room', 'Join the session first (session:join).');
      const last = typingAt.get(conn) ?? new Map<string, number>();
      typingAt.set(conn, last);
      // ephemeral: one socket's keystrokes are coalesced here, silently (at most one every 2 s);
      // the user's budget across sockets and nodes (RATE_LIMIT_TYPING) refuses with rate_limited
      if (Date.now() - (last.get(f.sessionId) ?? 0) < 2_000) return;
      last.set(f.sessionId, Date.now());
      await deps.moderation.take(conn.principal, 'typing');
      await deps.hub.publish(room, { type: 'typing', sessionId: f.sessionId, user: { id: conn.principal.id, name: conn.name } });
    },
  };

  async function handle(conn: Conn, raw: Buffer, isBinary: boolean): Promise<void> {
    let id: string | undefined;
    try {
      if (isBinary) throw new AppError(400, 'bad_frame', 'Send text frames holding JSON.');
      if (raw.length > MAX_FRAME_BYTES) throw new AppError(413, 'frame_too_large', `A frame may be at most ${MAX_FRAME_BYTES} bytes.`);
      let json: unknown;
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new AppError(400, 'bad_json', 'The frame is not valid JSON.');
      }
      if (json && typeof json === 'object' && typeof (json as { id?: unknown }).id === 'string') id = ((json as { id: string }).id).slice(0, 64);
      const nul = findNul(json, ['frame']);
      if (nul) throw new AppError(400, 'bad_request', `The frame is not valid: ${nul}: text may not contain the NUL character (\\u0000)`);
      const parsed = clientFrame.safeParse(json);
      if (!parsed.success) {
        const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'frame'}: ${i.message}`).join('; ');
        throw new AppError(400, 'bad_request', `The frame is not valid: ${detail}`.slice(0, 500));
      }
      const frame = parsed.data;
      limiter.take(conn, frame.type);
      const handler = (builtIn[frame.type] ?? deps.handlers[frame.type]) as ((ctx: WsCtx, f: ClientFrame) => Promise<void>) | undefined;
      if (!handler) throw new AppError(501, 'unsupported', `${frame.type} is not available on this server yet.`);
      const after: (() => Promise<void>)[] = [];
      await handler({ conn, principal: conn.principal, send: (f) => sendFrame(conn, f), afterAck: (fn) => void after.push(fn) }, frame);
      if (id !== undefined) sendFrame(conn, { type: 'ack', id });
      for (const fn of after) await fn().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'A frame after an ack could not be sent.'));
    } catch (err) {
      if (err instanceof AppError) {
        if (err.code === 'rate_limited') holdReading(conn);
        const retry = err.details?.retryAfterSeconds;
        sendFrame(conn, { type: 'error', ...(id !== undefined ? { id } : {}), code: err.code, message: err.message, ...(typeof retry === 'number' ? { retryAfterSeconds: retry } : {}) });
      } else if (isConnectionFailure(err)) {
        // Postgres not answering: a moment's outage, told the way REST tells it (503 unavailable)
        log.warn({ err: (err as Error).message, userId: conn.principal.id }, 'A WebSocket frame failed: the database did not answer.');
        sendFrame(conn, { type: 'error', ...(id !== undefined ? { id } : {}), code: 'unavailable', message: 'The database is unreachable for a moment; try again shortly.' });
      } else {
        log.error({ err, userId: conn.principal.id }, 'A WebSocket frame failed.');
        sendFrame(conn, { type: 'error', ...(id !== undefined ? { id } : {}), code: 'internal', message: 'Something went wrong on our side.' });
      }
    }
  }

  function connected(ws: WebSocket, principal: Principal, name: string, recheck: Conn['recheck']) {
    const conn: Conn = { id: randomUUID(), ws, principal, name, recheck, rooms: new Map(), slowSince: null };
    rooms.add(conn);
    let mine = byUser.get(principal.id);
    if (!mine) byUser.set(principal.id, (mine = new Set()));
    mine.add(conn);
    let alive = true;
    let queue = Promise.resolve();
    ws.on('pong', () => (alive = true));
    (ws as WebSocket & { isAlive: () => boolean; markPinged: () => void }).isAlive = () => alive;
    (ws as WebSocket & { markPinged: () => void }).markPinged = () => (alive = false);
    let pending = 0;
    let dropped = 0;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      rooms.received();
      // a client flooding faster than its frames are handled is refused here, unqueued
      if (pending >= MAX_PENDING_FRAMES) {
        // told once (busy) and no longer read: what it had already sent is dropped unanswered, so
        // a flood's backlog costs no answers (an honest client never has this many frames pending)
        if (held.has(conn)) {
          // still sending after all that: a flood, not a client; reading on would cost this node
          if (++dropped === MAX_DROPPED_FRAMES) closeConn(conn, CLOSE_FLOODING, 'too many frames after being told to wait');
          return;
        }
        holdReading(conn);
        return sendFrame(conn, { type: 'error', ...idOf(data), code: 'busy', message: 'Too many of your frames are still being handled; this one was dropped: send it again in a moment.', retryAfterSeconds: 1 });
      }
      pending++;
      queue = queue.then(() => handle(conn, data, isBinary)).finally(() => pending--);
    });
    const expiry = setTimeout(() => closeConn(conn, CLOSE_SIGNED_OUT, 'token expired'), Math.max(0, Math.min(principal.expiresAt - Date.now(), 2 ** 31 - 1)));
    ws.on('close', () => {
      clearTimeout(expiry);
      rooms.remove(conn);
      mine!.delete(conn);
      if (mine!.size === 0) byUser.delete(principal.id);
      for (const room of [...conn.rooms.keys()]) void exit(conn, room).catch(() => undefined);
    });
    ws.on('error', () => undefined);
  }

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => undefined);
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ws' && path !== '/ws/') return void refuse(socket, 404, 'Not Found');
    const origin = req.headers.origin;
    if (origin && deps.corsOrigin !== '*' && !deps.corsOrigin.split(',').map((o) => o.trim()).includes(origin)) return void refuse(socket, 403, 'Forbidden origin');
    const credential = credentialOf(req);
    if (!credential) return void refuse(socket, 401, 'Unauthorized: send ?ticket=<ticket from POST /api/realtime/ticket> or Authorization: Bearer <token>');
    void (async () => {
      let principal: Principal;
      let name: string;
      let recheck: Conn['recheck'];
      try {
        if ('ticket' in credential) {
          const holder = await deps.tickets.take(credential.ticket);
          if (!holder) throw unauthorized('This ticket is not valid, was already used or has expired; ask for a new one.');
          recheck = () => deps.auth.authenticateDevice(holder);
        } else {
          const { token } = credential;
          recheck = () => deps.auth.authenticate(token, { ip: req.socket.remoteAddress ?? null });
        }
        // the device must still be signed in (a ticket outlives nothing: sign-out ends it too)
        principal = await recheck();
        name = (await deps.users.get(principal.id)).name;
      } catch (err) {
        const status = err instanceof AppError ? err.status : 503;
        return refuse(socket, status, status === 401 ? 'Unauthorized' : 'Service Unavailable');
      }
      if ((byUser.get(principal.id)?.size ?? 0) >= MAX_SOCKETS_PER_USER) return refuse(socket, 429, 'Too many connections for this user');
      wss.handleUpgrade(req, socket, head, (ws) => connected(ws, principal, name, recheck));
    })();
  });

  // Heartbeat: a socket that did not answer the previous ping is gone.
  const heartbeat = setInterval(() => {
    for (const conn of rooms.conns()) {
      const ws = conn.ws as WebSocket & { isAlive: () => boolean; markPinged: () => void };
      if (!ws.isAlive()) {
        ws.terminate();
        continue;
      }
      ws.markPinged();
      ws.ping();
    }
  }, HEARTBEAT_MS).unref();

  // Signed out or revoked: close at once. Role changed: look the token up again, and re-check the
  // user's rooms (a demoted moderator may no longer read a draft event).
  void deps.bus.subscribe('auth.device-revoked', ({ userId, deviceId }) => {
    for (const conn of byUser.get(userId) ?? []) if (!deviceId || conn.principal.deviceId === deviceId) closeConn(conn, CLOSE_SIGNED_OUT, 'signed out');
  });
  void deps.bus.subscribe('auth.user-changed', ({ userId }) => {
    if (!byUser.has(userId)) return;
    for (const conn of byUser.get(userId)!) void refresh(conn);
    void checks.user(userId);
  });
  // An event's status or visibility changed, it was deleted, or an attendee was removed.
  void deps.bus.subscribe('realtime.recheck', ({ eventId, userId }) => {
    if (userId && !byUser.has(userId)) return;
    void checks.event(eventId, userId);
  });
  void deps.bus.subscribe('realtime.kick', ({ userId, eventId, reason }) => {
    for (const conn of byUser.get(userId) ?? []) {
      for (const [room, ev] of [...conn.rooms]) {
        if (ev !== eventId) continue;
        void exit(conn, room).catch(() => undefined);
        sendFrame(conn, { type: 'room:closed', room, code: 'banned', reason });
      }
    }
  });

  presence.start();
  checks.start(deps.roomRecheckMs ?? 30_000);
  return {
    async close() {
      clearInterval(heartbeat);
      checks.stop();
      await presence.stop();
      for (const conn of rooms.conns()) closeConn(conn, CLOSE_SHUTDOWN, 'server shutting down');
      await new Promise<void>((r) => wss.close(() => r()));
    },
    stats: () => ({ connections: [...rooms.conns()].length, droppedSlow: rooms.droppedSlow }),
  };
}

