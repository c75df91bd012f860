// Builds the services the REST app needs from the connections a process already holds.
// The api role and the in-process API tests both use it, so they build the same thing.
import type pg from 'pg';
import { createCollector } from '../../analytics/collector.js';
import { createAnalyticsService } from '../../analytics/service.js';
import { createSignals } from '../../analytics/signals.js';
import { createAuthService } from '../../auth/service.js';
import { createLoginThrottle } from '../../auth/throttle.js';
import type { Config } from '../../config.js';
import { createChatService } from '../../chat/service.js';
import { createEventsService } from '../../events/service.js';
import { createRateLimiters } from '../../moderation/rate-limits.js';
import { createModerationService } from '../../moderation/service.js';
import { createPollsService } from '../../polls/service.js';
import { createQuestionsService } from '../../qna/service.js';
import { createHub } from '../../realtime/hub.js';
import { createRooms } from '../../realtime/rooms.js';
import type { Log } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { Bus } from '../../redis/bus.js';
import type { Redis } from '../../redis/connection.js';
import { createStreamsService } from '../../streams/service.js';
import { loadProfile } from '../../transcode/profiles.js';
import { createUsersService } from '../../users/service.js';
import type { AppDeps } from './app.js';
import { createTokenService } from '../../http/auth.js';

/** One per process: the rooms and hub here are the node's WebSocket state. */
export function createAppDeps(o: { config: Config; log: Log; db: pg.Pool; redis: Redis; bus: Bus; metrics?: Metrics<'api'> }): AppDeps {
  const { config, log, db, redis, bus, metrics } = o;
  // per-user flood limits in Redis: moderation owns them; events (join) and users (import), built
  // before it, take from the same limiters
  const rateLimits = createRateLimiters({ redis, prefix: config.redisPrefix, limits: config.rateLimits, log });
  const users = createUsersService({ db, log, limits: rateLimits });
  const tokens = createTokenService({ secret: config.jwtSecret, expiresInSeconds: config.jwtExpiresInSeconds });
  const throttle = createLoginThrottle({ redis, prefix: config.redisPrefix, limits: config.login });
  const streams = createStreamsService({
    db,
    bus,
    log,
    defaultProfile: config.profile,
    profileExists: (name) => loadProfile(config.profilesDir, name).then(() => true, () => false),
  });
  const events = createEventsService({ db, bus, log, config, rateLimits });
  const rooms = createRooms({ log, metrics: metrics?.metrics });
  const hub = createHub({ bus, rooms });
  const moderation = createModerationService({ db, hub, events, log, rateLimits });
  const engagement = { db, redis, prefix: config.redisPrefix, log, hub, events, moderation };
  const signals = createSignals({ redis, redisPrefix: config.redisPrefix });
  const viewerLines = createCollector({ db, signals, log });
  metrics?.metrics.readViewerLines(() => ({ ...viewerLines.stats }));
  return {
    config,
    log,
    db,
    redis,
    users,
    streams,
    auth: createAuthService({ db, bus, log, tokens, throttle, users }),
    events,
    rooms,
    hub,
    chat: createChatService(engagement),
    moderation,
    polls: createPollsService(engagement),
    qna: createQuestionsService(engagement),
    analytics: createAnalyticsService({ db, redis, redisPrefix: config.redisPrefix, signals, collector: viewerLines, events, moderation }),
    viewerLines,
    metrics,
  };
}
