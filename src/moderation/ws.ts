// WebSocket frames for moderation (mute and ban name a session; they act on its event): each calls
// the same service function as REST.
import type { WsHandlers } from '../realtime/server.js';
import type { ModerationService } from './service.js';

export function moderationWsHandlers(deps: { moderation: ModerationService }): WsHandlers {
  const { moderation } = deps;
  return {
    'chat:mute': async ({ principal }, f) => {
      const eventId = await moderation.eventOfSession(principal, f.sessionId);
      await moderation.mute(principal, eventId, { userId: f.userId, minutes: f.minutes, reason: f.reason });
    },
    'chat:ban': async ({ principal }, f) => {
      const eventId = await moderation.eventOfSession(principal, f.sessionId);
      await moderation.ban(principal, eventId, { userId: f.userId, reason: f.reason });
    },
  };
}
