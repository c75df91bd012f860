// Placeholder: filled in by the qna work of issue 4.
import type { Endpoint } from '../http/endpoint.js';
import type { QuestionsService } from './service.js';

export function qnaEndpoints(_deps: { qna: QuestionsService }): Endpoint[] {
  return [];
}
