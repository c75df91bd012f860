// Small pieces of the WebSocket upgrade and of refusing frames, kept apart from server.ts.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { MAX_FRAME_BYTES } from './protocol.js';

/**
 * How the upgrade names its user: a single-use ticket in the query (browsers: POST
 * /api/realtime/ticket first) or the bearer token in the Authorization header (other clients).
 * A token in the URL is not accepted: it would sit in proxies' logs for the token's 7-day life.
 */
export function credentialOf(req: IncomingMessage): { ticket: string } | { token: string } | null {
  const ticket = new URL(req.url ?? '/', 'http://x').searchParams.get('ticket');
  if (ticket) return { ticket };
  const m = /^Bearer\s+(\S{1,4096})$/i.exec(req.headers.authorization ?? '');
  return m ? { token: m[1]! } : null;
}

/** The id of a frame refused before it is handled, when it has one. */
export function idOf(raw: Buffer): { id?: string } {
  if (raw.length > MAX_FRAME_BYTES) return {};
  try {
    const id = (JSON.parse(raw.toString('utf8')) as { id?: unknown }).id;
    return typeof id === 'string' ? { id: id.slice(0, 64) } : {};
  } catch {
    return {};
  }
}

export function refuse(socket: Duplex, status: number, text: string) {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}
