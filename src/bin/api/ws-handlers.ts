// Every WebSocket frame type that a feature handles, gathered in one place. Room membership,
// presence and typing are handled by server.ts itself.
import { chatWsHandlers } from '../../chat/ws.js';
import type { AppDeps } from './app.js';
import { moderationWsHandlers } from '../../moderation/ws.js';
import { pollsWsHandlers } from '../../polls/ws.js';
import { qnaWsHandlers } from '../../qna/ws.js';
import type { WsHandlers } from '../../realtime/server.js';

export function featureHandlers(deps: AppDeps): WsHandlers {
  return { ...chatWsHandlers({ chat: deps.chat }), ...moderationWsHandlers({ moderation: deps.moderation }), ...pollsWsHandlers({ polls: deps.polls }), ...qnaWsHandlers({ qna: deps.qna }) };
}
