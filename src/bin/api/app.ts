// Builds the Express app from its dependencies; never listens (tests and the api role do).
// Every REST endpoint is declared once (see endpoint.ts); this file lists them, mounts them and
// serves the OpenAPI document generated from the same list.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type Express } from 'express';
import swaggerUiPath from 'swagger-ui-dist/absolute-path.js';
import type pg from 'pg';
import { z } from 'zod';
import { authEndpoints } from '../../auth/routes.js';
import { chatEndpoints } from '../../chat/routes.js';
import type { ChatService } from '../../chat/service.js';
import { moderationEndpoints } from '../../moderation/routes.js';
import type { ModerationService } from '../../moderation/service.js';
import { pollsEndpoints } from '../../polls/routes.js';
import type { PollsService } from '../../polls/service.js';
import { analyticsEndpoints } from '../../analytics/routes.js';
import type { AnalyticsService } from '../../analytics/service.js';
import type { Collector } from '../../analytics/collector.js';
import type { PlaybackGate } from '../../analytics/playback-gate.js';
import { qnaEndpoints } from '../../qna/routes.js';
import type { QuestionsService } from '../../qna/service.js';
import { bytesByStream } from '../../recordings/queries.js';
import { recordingEndpoints } from '../../recordings/routes.js';
import type { RecordingsService } from '../../recordings/service.js';
import type { Hub } from '../../realtime/hub.js';
import type { Outbox } from '../../realtime/outbox.js';
import type { Rooms } from '../../realtime/rooms.js';
import { realtimeEndpoints } from '../../realtime/routes.js';
import type { Tickets } from '../../realtime/tickets.js';
import type { AuthService } from '../../auth/service.js';
import type { Config } from '../../config.js';
import { eventEndpoints } from '../../events/routes.js';
import type { EventsService } from '../../events/service.js';
import type { Log } from '../../log.js';
import { answerScrape, type Metrics } from '../../metrics.js';
import { APP_ROOT } from '../../paths.js';
import type { Redis } from '../../redis/connection.js';
import { streamEndpoints } from '../../streams/routes.js';
import { destinationEndpoints } from '../../relays/routes.js';
import type { DestinationsService } from '../../relays/service.js';
import { sessionStreamEndpoints } from '../../events/session-stream-routes.js';
import type { StreamsService } from '../../streams/service.js';
import { uploadEndpoints } from '../../uploads/routes.js';
import { userEndpoints } from '../../users/routes.js';
import type { UsersService } from '../../users/service.js';
import { endpoint, mountEndpoints, type AnswerCheck, type Endpoint } from '../../http/endpoint.js';
import { errorHandler, notFoundHandler, problem } from '../../http/errors.js';
import { openApiDocument } from '../../http/openapi.js';
import { problems } from '../../http/schemas.js';

export interface AppDeps {
  config: Config;
  log: Log;
  db: pg.Pool;
  redis: Redis;
  users: UsersService;
  auth: AuthService;
  streams: StreamsService;
  events: EventsService;
  /** This node's WebSocket rooms and the cross-node fan-out every engagement service publishes through. */
  rooms: Rooms;
  hub: Hub;
  outbox: Outbox;
  /** Single-use WebSocket tickets (Redis, shared by every node). */
  tickets: Tickets;
  chat: ChatService;
  /** Bans and mutes: who may take part in an event now (chat, polls, Q&A, rooms, playback, heartbeats). */
  moderation: ModerationService;
  polls: PollsService;
  qna: QuestionsService;
  analytics: AnalyticsService;
  /** Relay destinations of streams (the relay itself runs in the worker). */
  destinations: DestinationsService;
  /** Recordings' lists and deletion (the writer and the finalise job live in the worker). */
  recordings: RecordingsService;
  /** This node's batcher of viewer lines (nginx's over UDP, heartbeats) into Redis. */
  viewerLines: Collector & { listen(port: number, host: string, key: Buffer): Promise<void> };
  /** Which viewer URLs nginx serves now (null with PLAYBACK_TOKENS=off). */
  playbackGate: PlaybackGate | null;
  /** This process's registry; /metrics is served when it is here and INTERNAL_API_KEY is set. */
  metrics?: Metrics<'api'>;
}

const VERSION = (JSON.parse(readFileSync(path.join(APP_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function systemEndpoints(deps: AppDeps, doc: () => unknown): Endpoint[] {
  return [
    endpoint({
      method: 'get', path: '/health', action: 'health', tag: 'system',
      summary: 'Whether this API node reaches Postgres and Redis',
      answers: { 200: { description: 'Both reachable.', schema: z.object({ status: z.literal('ok'), db: z.boolean(), redis: z.boolean() }) }, ...problems(503) },
      async handle({ res }) {
        const [db, redis] = await Promise.all([
          deps.db.query('SELECT 1').then(() => true, () => false),
          deps.redis.ping().then(() => true, () => false),
        ]);
        if (db && redis) return void res.json({ status: 'ok', db, redis });
        problem(res, 503, { type: 'about:blank', title: 'unavailable', code: 'unavailable', detail: 'A backing service is down.', db, redis });
      },
    }),
    endpoint({
      method: 'get', path: '/openapi.json', action: 'docs', tag: 'system',
      summary: 'This OpenAPI document',
      answers: { 200: { description: 'OpenAPI 3.1.' } },
      async handle({ res }) {
        res.json(doc());
      },
    }),
    endpoint({
      method: 'get', path: '/docs', action: 'docs', tag: 'system',
      summary: 'Interactive API documentation (Swagger UI, served locally)',
      answers: { 200: { description: 'HTML.' } },
      async handle({ res }) {
        res.type('html').send(DOCS_HTML);
      },
    }),
  ];
}

// Relative URLs, so the page works under any prefix nginx puts in front of /api.
const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Onair API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body></html>`;
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#ui', persistAuthorization: true });`;

/** Every REST endpoint of the app, in documentation order. */
export function appEndpoints(deps: AppDeps): Endpoint[] {
  let cached: unknown;
  const list: Endpoint[] = [
    ...systemEndpoints(deps, () => (cached ??= openApiDocument(list, { version: VERSION }))),
    ...authEndpoints({ auth: deps.auth, users: deps.users }),
    ...realtimeEndpoints({ tickets: deps.tickets }),
    ...userEndpoints({ users: deps.users }),
    ...eventEndpoints({ events: deps.events, config: deps.config, moderation: deps.moderation }),
    ...streamEndpoints({ streams: deps.streams, config: deps.config, recordingsBytes: (ids) => bytesByStream(deps.db, ids) }),
    ...sessionStreamEndpoints({ events: deps.events, streams: deps.streams, config: deps.config }),
    ...destinationEndpoints({ destinations: deps.destinations, events: deps.events }),
    ...chatEndpoints({ chat: deps.chat }),
    ...moderationEndpoints({ moderation: deps.moderation }),
    ...pollsEndpoints({ polls: deps.polls }),
    ...qnaEndpoints({ qna: deps.qna }),
    ...analyticsEndpoints({ analytics: deps.analytics }),
    ...recordingEndpoints({ recordings: deps.recordings, config: deps.config }),
    ...uploadEndpoints({ config: deps.config, moderation: deps.moderation, log: deps.log }),
  ];
  return list;
}

export function createApp(deps: AppDeps, o: { checkAnswer?: AnswerCheck } = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.trustProxy);

  app.use((req, res, next) => {
    const origin = deps.config.corsOrigin;
    const allowed = origin === '*' ? '*' : origin.split(',').map((o) => o.trim()).includes(req.get('origin') ?? '') ? req.get('origin')! : null;
    if (allowed) {
      res.set('Access-Control-Allow-Origin', allowed);
      if (allowed !== '*') res.vary('Origin');
      res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
      res.set('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS');
      res.set('Access-Control-Expose-Headers', 'Retry-After');
    }
    if (req.method === 'OPTIONS') return void res.status(204).end();
    next();
  });

  const api = express.Router();
  api.get('/docs/init.js', (_req, res) => void res.type('js').send(DOCS_INIT));
  api.use('/docs/assets', express.static(swaggerUiPath(), { index: false, maxAge: '1d' }));
  const m = deps.metrics;
  const observe = m && ((e: Endpoint, status: number, seconds: number) => m.metrics.httpRequestSeconds.observe({ method: e.method.toUpperCase(), route: e.path, status: String(status) }, seconds));
  mountEndpoints(api, appEndpoints(deps), (token, req) => deps.auth.authenticate(token, { ip: req.ip ?? null }), o.checkAnswer, observe);
  // outside /api: nginx proxies only /api and /ws, so scrapes reach the node directly
  const key = deps.config.internalApiKey;
  if (m && key) app.get('/metrics', (req, res) => void answerScrape(m.registry, key, req, res));
  app.use('/api', api);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log, { refusalHoldMs: deps.config.rateLimitHoldMs }));
  return app;
}
