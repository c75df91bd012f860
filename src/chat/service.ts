// Placeholder: filled in by the chat work of issue 4.
import type { ServiceDeps } from '../realtime/deps.js';

export type ChatService = Record<string, never>;

export function createChatService(_deps: ServiceDeps): ChatService {
  return {};
}
