// Short-lived, single-use WebSocket tickets. Browsers cannot set headers on a WebSocket, so a
// signed-in page asks POST /api/realtime/ticket (with its bearer token in the header) and opens
// /ws?ticket=<ticket>: only the ticket, worth nothing 30 s later or after one use, ever sits in a
// URL (and so in a proxy's logs), never the 7-day token. Tickets live in Redis (any API node can
// take one another node issued), stored under a digest of the ticket, and are taken with GETDEL,
// so two uses racing on two nodes cannot both win. A ticket names the user and the device session
// it was issued for; the socket it opens is still refused if that device was signed out meanwhile.
import { createHash, randomBytes } from 'node:crypto';
import { unavailable } from '../errors.js';
import type { Principal } from '../principal.js';
import type { Redis } from '../redis/connection.js';

export const TICKET_TTL_SECONDS = 30;
const TICKET_PATTERN = /^wst_[A-Za-z0-9_-]{32}$/;

/** Who a ticket was issued to: checked again (device still signed in, current role) when used. */
export interface TicketHolder {
  userId: string;
  deviceId: string;
  /** When the bearer token the ticket was issued for expires (ms since the epoch). */
  expiresAt: number;
}

export interface Tickets {
  issue(p: Principal): Promise<{ ticket: string; expiresAt: Date }>;
  /** The holder of a valid, unused ticket (which is used up by this call), or null. */
  take(ticket: string): Promise<TicketHolder | null>;
}

export function createTickets(o: { redis: Redis; prefix: string; ttlSeconds?: number }): Tickets {
  const ttl = o.ttlSeconds ?? TICKET_TTL_SECONDS;
  const key = (ticket: string) => `${o.prefix}:ws-ticket:${createHash('sha256').update(ticket).digest('base64url')}`;
  return {
    async issue(p) {
      const ticket = `wst_${randomBytes(24).toString('base64url')}`;
      const holder: TicketHolder = { userId: p.id, deviceId: p.deviceId, expiresAt: p.expiresAt };
      try {
        await o.redis.set(key(ticket), JSON.stringify(holder), 'EX', ttl);
      } catch {
        throw unavailable('Live updates are unavailable for a moment (Redis is unreachable); try again shortly.');
      }
      return { ticket, expiresAt: new Date(Date.now() + ttl * 1000) };
    },
    async take(ticket) {
      if (!TICKET_PATTERN.test(ticket)) return null;
      const raw = await o.redis.getdel(key(ticket));
      if (!raw) return null;
      const h = JSON.parse(raw) as TicketHolder;
      return typeof h.userId === 'string' && typeof h.deviceId === 'string' && typeof h.expiresAt === 'number' ? h : null;
    },
  };
}
