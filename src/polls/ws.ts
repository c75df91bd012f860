// Placeholder: filled in by the polls work of issue 4.
import type { WsHandlers } from '../realtime/server.js';
import type { PollsService } from './service.js';

export function pollsWsHandlers(_deps: { polls: PollsService }): WsHandlers {
  return {};
}
