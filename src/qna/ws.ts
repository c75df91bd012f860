// Placeholder: filled in by the qna work of issue 4.
import type { WsHandlers } from '../realtime/server.js';
import type { QuestionsService } from './service.js';

export function qnaWsHandlers(_deps: { qna: QuestionsService }): WsHandlers {
  return {};
}
