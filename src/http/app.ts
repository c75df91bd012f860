// Builds the Express app from its dependencies; never listens (tests and the api role do).
import express, { type Express } from 'express';
import type pg from 'pg';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Log } from '../log.js';
import type { Redis } from '../redis/connection.js';
import { streamsRouter } from '../streams/routes.js';
import type { StreamsService } from '../streams/service.js';
import type { UsersService } from '../users/service.js';
import { type TokenService } from './auth.js';
import { errorHandler, notFoundHandler, problem, validate } from './errors.js';

export interface AppDeps {
  config: Config;
  log: Log;
  db: pg.Pool;
  redis: Redis;
  users: UsersService;
  streams: StreamsService;
  tokens: TokenService;
}

const loginBody = z
  .object({
    email: z.string().trim().min(3).max(320),
    password: z.string().min(1).max(1024),
  })
  .strict();

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');

  app.use((req, res, next) => {
    const origin = deps.config.corsOrigin;
    const allowed = origin === '*' ? '*' : origin.split(',').map((o) => o.trim()).includes(req.get('origin') ?? '') ? req.get('origin')! : null;
    if (allowed) {
      res.set('Access-Control-Allow-Origin', allowed);
      if (allowed !== '*') res.vary('Origin');
      res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
      res.set('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS');
    }
    if (req.method === 'OPTIONS') return void res.status(204).end();
    next();
  });
  app.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));

  const api = express.Router();
  api.get('/health', async (_req, res) => {
    const [db, redis] = await Promise.all([
      deps.db.query('SELECT 1').then(() => true, () => false),
      deps.redis.ping().then(() => true, () => false),
    ]);
    if (db && redis) return void res.json({ status: 'ok', db, redis });
    problem(res, 503, { type: 'about:blank', title: 'unavailable', code: 'unavailable', detail: 'A backing service is down.', db, redis });
  });

  api.post('/auth/login', async (req, res) => {
    const body = validate(loginBody, req.body, 'body');
    const user = await deps.users.verifyLogin(body.email, body.password);
    const token = await deps.tokens.sign(user);
    res.json({ token, user: { id: user.id, email: user.email, name: user.name, role: user.role } });
  });

  api.use(streamsRouter({ streams: deps.streams, tokens: deps.tokens, config: deps.config }));
  app.use('/api', api);
  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}
