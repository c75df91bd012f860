// Accepting RTMP/RTMPS connections under the caps of connection-gate.ts, in front of the RTMP
// server's own accept handler (rtmp-server.ts hands that over; nothing here knows the library).
import type { Server as NetServer, Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { CapName, ConnectionGate, Ticket } from './connection-gate.js';

export function takeOverAccept(o: {
  /** The listeners, with the handler the library registered on them (removed here). */
  server: { tcpServer?: NetServer; tlsServer?: TlsServer; handleRequest(socket: Socket): void };
  gate: ConnectionGate;
  /** A connection within the caps: hand it to the library (for RTMPS once its handshake is done). */
  onAdmitted(socket: Socket, ticket: Ticket): void;
  /** A connection over a cap: it is destroyed already. */
  onRefused(ip: string, cap: CapName): void;
  handshakeDeadlineMs: number;
}): void {
  const admit = (socket: Socket): Ticket | null => {
    const ip = socket.remoteAddress ?? 'unknown';
    const ticket = o.gate.admit(ip);
    if ('refused' in ticket) {
      socket.destroy();
      o.onRefused(ip, ticket.refused);
      return null;
    }
    socket.once('close', () => ticket.release());
    return ticket;
  };

  const { tcpServer, tlsServer, handleRequest } = o.server;
  tcpServer?.removeListener('connection', handleRequest);
  tcpServer?.on('connection', (socket: Socket) => {
    const ticket = admit(socket);
    if (ticket) o.onAdmitted(socket, ticket);
  });
  if (!tlsServer) return;

  // RTMPS counts the raw TCP connection, before its TLS handshake costs anything; the ticket
  // waits here (by remote address and port) until the handshake ends
  const handshaking = new Map<string, { ticket: Ticket; timer: NodeJS.Timeout }>();
  const key = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;
  tlsServer.prependListener('connection', (raw: Socket) => {
    const ticket = admit(raw);
    if (!ticket) return;
    const timer = setTimeout(() => raw.destroy(), o.handshakeDeadlineMs); // a handshake that never ends
    handshaking.set(key(raw), { ticket, timer });
    raw.once('close', () => {
      clearTimeout(timer);
      handshaking.delete(key(raw));
    });
  });
  tlsServer.removeListener('secureConnection', handleRequest);
  tlsServer.on('secureConnection', (socket: Socket) => {
    const entry = handshaking.get(key(socket));
    handshaking.delete(key(socket));
    if (!entry) return void socket.destroy();
    clearTimeout(entry.timer); // from here the RTMP watchdog keeps time
    o.onAdmitted(socket, entry.ticket);
  });
}
