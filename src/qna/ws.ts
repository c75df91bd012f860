// WebSocket frames for questions: thin calls into the same service REST uses. The server acks
// them; everyone in the session's room (the sender too) sees the resulting question:* frames.
import type { WsHandlers } from '../realtime/server.js';
import type { QuestionsService } from './service.js';

export function qnaWsHandlers(deps: { qna: QuestionsService }): WsHandlers {
  const { qna } = deps;
  return {
    'question:ask': async ({ principal }, f) => void (await qna.ask(principal, f.sessionId, f.text)),
    'question:upvote': async ({ principal }, f) => void (await qna.upvote(principal, f.questionId)),
    'question:answer': async ({ principal }, f) => void (await qna.answer(principal, f.questionId)),
  };
}
