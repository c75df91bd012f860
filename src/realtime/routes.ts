// REST side of the WebSocket endpoint: the ticket a browser opens /ws with (see tickets.ts).
import { z } from 'zod';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { isoDate, problems } from '../http/schemas.js';
import { TICKET_TTL_SECONDS, type Tickets } from './tickets.js';

export function realtimeEndpoints(deps: { tickets: Tickets }): Endpoint[] {
  return [
    endpoint({
      method: 'post', path: '/realtime/ticket', action: 'realtime.ticket', tag: 'realtime',
      summary: 'A single-use ticket to open the WebSocket with (/ws?ticket=…)',
      description: `Browsers cannot send headers on a WebSocket: open /ws?ticket=<ticket> instead of putting the token in the URL. The ticket works once, within ${TICKET_TTL_SECONDS} s, on any API node, and only while this device is still signed in.`,
      answers: {
        200: { description: 'The ticket and when it stops working.', schema: z.object({ ticket: z.string(), expiresAt: isoDate }) },
        ...problems(401, 503),
      },
      async handle({ me, res }) {
        const t = await deps.tickets.issue(me);
        res.set('Cache-Control', 'no-store').json({ ticket: t.ticket, expiresAt: t.expiresAt.toISOString() });
      },
    }),
  ];
}
