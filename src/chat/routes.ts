// Placeholder: filled in by the chat work of issue 4.
import type { Endpoint } from '../http/endpoint.js';
import type { ChatService } from './service.js';

export function chatEndpoints(_deps: { chat: ChatService }): Endpoint[] {
  return [];
}
