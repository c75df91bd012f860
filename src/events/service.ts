// Events, their sessions, speakers and attendees.
import type pg from 'pg';
import type { Config } from '../config.js';
import type { Log } from '../log.js';
import type { Bus } from '../redis/bus.js';

export type EventsService = Record<string, never>;

export function createEventsService(_deps: { db: pg.Pool; bus: Bus; log: Log; config: Config }): EventsService {
  return {};
}
