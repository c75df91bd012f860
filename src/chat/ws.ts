// WebSocket frames for chat: each calls the same service function as REST.
// What happens reaches everyone (the sender too) as the broadcast frame; the sender's own frame
// is answered with ack or error by the server.
import { AppError } from '../errors.js';
import { sessionRoom } from '../realtime/protocol.js';
import type { WsHandlers } from '../realtime/server.js';
import type { ChatService } from './service.js';

export function chatWsHandlers(deps: { chat: ChatService }): WsHandlers {
  const { chat } = deps;
  return {
    'chat:send': async ({ conn, principal }, f) => {
      if (!conn.rooms.has(sessionRoom(f.sessionId))) throw new AppError(409, 'not_in_room', 'Join the session first (session:join).');
      await chat.send(principal, { sessionId: f.sessionId, text: f.text, clientMsgId: f.clientMsgId });
    },
    'chat:pin': async ({ principal }, f) => {
      await chat.pin(principal, f.messageId, f.pinned);
    },
    'chat:delete': async ({ principal }, f) => {
      await chat.remove(principal, f.messageId);
    },
    'chat:settings': async ({ principal }, f) => {
      await chat.updateSettings(principal, f.sessionId, { enabled: f.enabled, slowModeSeconds: f.slowModeSeconds, attendeesOnly: f.attendeesOnly });
    },
  };
}
