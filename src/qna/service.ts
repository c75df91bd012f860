// Placeholder: filled in by the qna work of issue 4.
import type { ServiceDeps } from '../realtime/deps.js';

export type QuestionsService = Record<string, never>;

export function createQuestionsService(_deps: ServiceDeps): QuestionsService {
  return {};
}
