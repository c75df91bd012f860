// Placeholder: filled in by the polls work of issue 4.
import type { Endpoint } from '../http/endpoint.js';
import type { PollsService } from './service.js';

export function pollsEndpoints(_deps: { polls: PollsService }): Endpoint[] {
  return [];
}
