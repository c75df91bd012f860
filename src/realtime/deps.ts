// What the engagement services (chat, polls, Q&A) are built from.
import type pg from 'pg';
import type { EventsService } from '../events/service.js';
import type { Log } from '../log.js';
import type { ModerationService } from '../moderation/service.js';
import type { Redis } from '../redis/connection.js';
import type { Hub } from './hub.js';
import type { Outbox } from './outbox.js';

export interface ServiceDeps {
  db: pg.Pool;
  redis: Redis;
  /** Redis key prefix of this instance. */
  prefix: string;
  log: Log;
  hub: Hub;
  /** Frames of committed changes: written in the change's transaction, published after COMMIT. */
  outbox: Outbox;
  events: EventsService;
  /** Bans, mutes (and who may take part now): built once in the composition root. */
  moderation: ModerationService;
}
