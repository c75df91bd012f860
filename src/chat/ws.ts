// Placeholder: filled in by the chat work of issue 4.
import type { WsHandlers } from '../realtime/server.js';
import type { ChatService } from './service.js';

export function chatWsHandlers(_deps: { chat: ChatService }): WsHandlers {
  return {};
}
