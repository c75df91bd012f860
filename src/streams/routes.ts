// HTTP for streams. The key leaves the server only in the answers to create and regenerate.
import { Router } from 'express';
import { z } from 'zod';
import { playbackUrl, rtmpIngestUrl, type Config } from '../config.js';
import { authenticate, currentUser, requireRole, type TokenService } from '../http/auth.js';
import { badRequest } from '../errors.js';
import { validate } from '../http/errors.js';
import type { StreamsService } from './service.js';
import type { Stream } from './types.js';

const idParams = z.object({ id: z.uuid({ message: 'id must be a UUID' }) }).strict();
const createBody = z
  .object({
    title: z.string().trim().min(1, 'title is required').max(200, 'title is at most 200 characters'),
    profile: z.string().regex(/^[a-z0-9_-]{1,40}$/, 'profile must name a transcode profile').optional(),
  })
  .strict();
const listQuery = z
  .object({
    status: z.enum(['offline', 'starting', 'live', 'failed']).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export function streamView(config: Pick<Config, 'hlsHost' | 'publicScheme' | 'rtmpHost' | 'rtmpPort'>, s: Stream) {
  return {
    id: s.id,
    title: s.title,
    playbackId: s.playbackId,
    playbackUrl: playbackUrl(config, s.playbackId),
    rtmpUrl: rtmpIngestUrl(config),
    profile: s.profile,
    enabled: s.enabled,
    status: s.status,
    statusReason: s.statusReason,
    renditions: s.renditions,
    progress: s.progress,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

function encodeCursor(s: Stream): string {
  return Buffer.from(`${s.createdAt.toISOString()}|${s.id}`).toString('base64url');
}

function decodeCursor(cursor: string | undefined): { createdAt: Date; id: string } | undefined {
  if (cursor === undefined) return undefined;
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (Number.isNaN(createdAt.getTime()) || !id || !z.uuid().safeParse(id).success) {
    throw badRequest('The request query is not valid.', { errors: [{ field: 'query.cursor', message: 'cursor is not one this API gave out' }] });
  }
  return { createdAt, id };
}

export function streamsRouter(deps: { streams: StreamsService; tokens: TokenService; config: Config }): Router {
  const r = Router();
  const view = (s: Stream) => streamView(deps.config, s);
  r.use('/streams', authenticate(deps.tokens));

  r.post('/streams', requireRole('admin'), async (req, res) => {
    const body = validate(createBody, req.body, 'body');
    const { stream, streamKey } = await deps.streams.create({ title: body.title, profile: body.profile, createdBy: currentUser(req).id });
    res.status(201).json({ ...view(stream), streamKey });
  });

  r.get('/streams', requireRole('admin', 'moderator'), async (req, res) => {
    const q = validate(listQuery, req.query, 'query');
    const items = await deps.streams.list({ status: q.status, limit: q.limit + 1, after: decodeCursor(q.cursor) });
    const page = items.slice(0, q.limit);
    const last = page[page.length - 1];
    res.json({ items: page.map(view), nextCursor: items.length > q.limit && last ? encodeCursor(last) : null });
  });

  r.get('/streams/:id', requireRole('admin', 'moderator'), async (req, res) => {
    const { id } = validate(idParams, req.params, 'params');
    res.json(view(await deps.streams.get(id)));
  });

  r.get('/streams/:id/sessions', requireRole('admin', 'moderator'), async (req, res) => {
    const { id } = validate(idParams, req.params, 'params');
    res.json({ items: await deps.streams.publishSessions(id, 20), nextCursor: null });
  });

  r.post('/streams/:id/regenerate-key', requireRole('admin'), async (req, res) => {
    const { id } = validate(idParams, req.params, 'params');
    const { stream, streamKey } = await deps.streams.regenerateKey(id);
    res.json({ ...view(stream), streamKey });
  });
  return r;
}
