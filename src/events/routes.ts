// Event and session endpoints.
import type { Config } from '../config.js';
import type { Endpoint } from '../http/endpoint.js';
import type { EventsService } from './service.js';

export function eventEndpoints(_deps: { events: EventsService; config: Config }): Endpoint[] {
  return [];
}
