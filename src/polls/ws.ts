// WebSocket frames for polls: thin calls into the same service REST uses. The server acks them;
// everyone in the session's room (the sender too) sees the resulting poll:* frames.
import type { WsHandlers } from '../realtime/server.js';
import type { PollsService } from './service.js';

export function pollsWsHandlers(deps: { polls: PollsService }): WsHandlers {
  const { polls } = deps;
  return {
    'poll:create': async ({ principal }, f) => void (await polls.create(principal, { sessionId: f.sessionId, question: f.question, options: f.options })),
    'poll:vote': async ({ principal }, f) => void (await polls.vote(principal, f.pollId, f.optionId)),
    'poll:close': async ({ principal }, f) => void (await polls.close(principal, f.pollId)),
  };
}
