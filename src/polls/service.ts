// Placeholder: filled in by the polls work of issue 4.
import type { ServiceDeps } from '../realtime/deps.js';

export type PollsService = Record<string, never>;

export function createPollsService(_deps: ServiceDeps): PollsService {
  return {};
}
