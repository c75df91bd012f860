// Builds the services the REST app needs from the connections a process already holds.
// The api role and the in-process API tests both use it, so they build the same thing.
import type pg from 'pg';
import { createCollector } from '../../analytics/collector.js';
import { createLineSessions } from '../../analytics/line-sessions.js';
import { createPlaybackGate } from '../../analytics/playback-gate.js';
import { createAnalyticsService } from '../../analytics/service.js';
import { createSignals } from '../../analytics/signals.js';
import { createAuthService } from '../../auth/service.js';
import { createPasswordHasher } from '../../auth/passwords.js';
import { createAuthThrottle } from '../../auth/throttle.js';
import type { Config } from '../../config.js';
import { createChatService } from '../../chat/service.js';
import { createEventsService } from '../../events/service.js';
import { createRateLimiters } from '../../moderation/rate-limits.js';
import { createModerationService } from '../../moderation/service.js';
import { createPollsService } from '../../polls/service.js';
import { createQuestionsService } from '../../qna/service.js';
import { createRecordingsService } from '../../recordings/service.js';
import { createHub } from '../../realtime/hub.js';
import { createOutbox } from '../../realtime/outbox.js';
import { createRooms } from '../../realtime/rooms.js';
import { createTickets } from '../../realtime/tickets.js';
import type { Log } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { Bus } from '../../redis/bus.js';
import type { Redis } from '../../redis/connection.js';
import { createStreamsService } from '../../streams/service.js';
import { createDestinationsService } from '../../relays/service.js';
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
  const tokens = createTokenService({ secret: config.jwtSecret, expiresInSeconds: config.jwtExpiresInSeconds });
  const throttle = createAuthThrottle({ redis, prefix: config.redisPrefix, limits: config.login });
  const passwords = createPasswordHasher(config.passwords);
  if (config.passwords.cost === 'test') log.warn('PASSWORD_HASH_COST=test: passwords are hashed at the cheap test cost. Never use it outside the test suite.');
  // auth owns passwords and sessions; users gets the hooks it needs from it (users does not import auth)
  const auth = createAuthService({ db, bus, log, tokens, throttle, passwords });
  const users = createUsersService({ db, log, auth, limits: rateLimits });
  const streams = createStreamsService({
    db,
    bus,
    log,
    defaultProfile: config.profile,
    profileExists: (name) => loadProfile(config.profilesDir, name).then(() => true, () => false),
    stopCooloffSeconds: config.stopCooloffSeconds,
  });
  // which viewer URLs nginx serves now: marker files in the media dir, brought in line at once after
  // a session is written or a ban changes (bin/api.ts also runs it on a timer)
  const playbackGate = config.playbackTokens ? createPlaybackGate({ db, mediaDir: config.mediaDir, ...config.playbackWindow, log }) : null;
  const events = createEventsService({ db, bus, log, config, rateLimits, afterSessionChange: playbackGate?.refresh });
  const rooms = createRooms({ log, metrics: metrics?.metrics });
  const hub = createHub({ bus, rooms });
  const moderation = createModerationService({ db, hub, events, log, rateLimits, onBanChange: playbackGate?.refresh });
  const outbox = createOutbox({ db, hub, log });
  const engagement = { db, redis, prefix: config.redisPrefix, log, hub, outbox, events, moderation };
  const signals = createSignals({ redis, redisPrefix: config.redisPrefix });
  const viewerLines = createCollector({ sessions: createLineSessions({ db }), signals, bannedAmong: (pairs) => moderation.bannedAmong(pairs), log });
  metrics?.metrics.readViewerLines(() => viewerLines.stats);
  return {
    config,
    log,
    db,
    redis,
    users,
    streams,
    auth,
    events,
    rooms,
    hub,
    outbox,
    tickets: createTickets({ redis, prefix: config.redisPrefix }),
    chat: createChatService(engagement),
    moderation,
    polls: createPollsService(engagement),
    qna: createQuestionsService(engagement),
    destinations: createDestinationsService({ db, bus, log, relay: config.relay }),
    recordings: createRecordingsService({ db, config, events, streams, moderation, log, afterChange: playbackGate?.refresh }),
    analytics: createAnalyticsService({ db, redis, redisPrefix: config.redisPrefix, signals, collector: viewerLines, events, moderation }),
    viewerLines,
    playbackGate,
    metrics,
  };
}
