// What the engagement services (chat, polls, Q&A, moderation) are built from.
import type pg from 'pg';
import type { EventsService } from '../events/service.js';
import type { Log } from '../log.js';
import type { Redis } from '../redis/connection.js';
import type { Hub } from './hub.js';

export interface ServiceDeps {
  db: pg.Pool;
  redis: Redis;
  /** Redis key prefix of this instance. */
  prefix: string;
  log: Log;
  hub: Hub;
  events: EventsService;
}
