// Maps every error to application/problem+json, once. No stack or SQL text reaches a client.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { z } from 'zod';
import { isConnectionFailure } from '../db/pool.js';
import { AppError, badRequest } from '../errors.js';
import type { Log } from '../log.js';

export function problem(res: Parameters<RequestHandler>[1], status: number, body: Record<string, unknown>) {
  res.status(status).type('application/problem+json').send(JSON.stringify({ status, ...body }));
}

/** Parses a request part against a schema; a failure becomes a 400 with field-level messages. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params', o: { refuseNul?: boolean } = {}): z.infer<S> {
  const nul = o.refuseNul === false ? null : findNul(value, [where]);
  if (nul) throw badRequest(`The request ${where} is not valid.`, { errors: [{ field: nul, message: 'text may not contain the NUL character (\\u0000)' }] });
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const errors = result.error.issues.map((i) => ({ field: [where, ...i.path].join('.'), message: i.message }));
  throw badRequest(`The request ${where} is not valid.`, { errors });
}

export const notFoundHandler: RequestHandler = (req, res) => {
  problem(res, 404, { type: 'about:blank', title: 'Not Found', code: 'not_found', detail: `No route for ${req.method} ${req.path}.` });
};

/**
 * refusalHoldMs: a `rate_limited` answer is held this long before it is sent (a tarpit). A client
 * flooding over many connections waits for each refusal before its next request on that
 * connection, so its refusals cost the node a timer instead of a request loop that crowds out
 * everyone else's requests (bench:flood). Each hold is drawn from ½ to 1½ times it, so the held
 * connections do not all come back at the same moment. Nothing is held for the other answers.
 */
export function errorHandler(log: Log, o: { refusalHoldMs?: number } = {}): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (err instanceof AppError) {
      if (err.status === 429 && typeof err.details?.retryAfterSeconds === 'number') res.set('Retry-After', String(err.details.retryAfterSeconds));
      // a 429 says when to try again twice: Retry-After for HTTP clients, retryAfterSeconds in the body
      const send = () => problem(res, err.status, { type: 'about:blank', title: err.code, code: err.code, detail: err.message, ...err.details });
      if (err.code !== 'rate_limited' || !o.refusalHoldMs) return send();
      const timer = setTimeout(() => !res.destroyed && send(), o.refusalHoldMs * (0.5 + Math.random()));
      res.once('close', () => clearTimeout(timer));
      return;
    }
    // body-parser errors carry a status (400 bad JSON, 413 too large, 415 charset)
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const detail = status === 413 ? 'The request body is too large.' : status === 400 ? 'The request body is not valid JSON.' : 'The request could not be read.';
      return problem(res, status, { type: 'about:blank', title: 'Bad Request', code: status === 413 ? 'payload_too_large' : 'bad_request', detail });
    }
    // Backstop: a Postgres data exception (class 22: a value out of range, a character text
    // cannot hold) is a value the schemas should have refused; say so rather than 500.
    const pgCode = (err as { code?: unknown }).code;
    if (typeof pgCode === 'string' && /^22[0-9A-Z]{3}$/.test(pgCode)) {
      log.warn({ pgCode, method: req.method, path: req.path }, 'A request value reached Postgres and was refused; its schema should refuse it first.');
      return problem(res, 400, { type: 'about:blank', title: 'Bad Request', code: 'bad_request', detail: 'A value in the request cannot be stored.' });
    }
    // Postgres not answering (stopped, frozen, cut off): a moment's outage, not a bug — the same
    // 503 `unavailable` as Redis being away, so that clients retry
    if (isConnectionFailure(err)) {
      log.warn({ err: (err as Error).message, method: req.method, path: req.path }, 'A request failed: the database did not answer.');
      return problem(res, 503, { type: 'about:blank', title: 'unavailable', code: 'unavailable', detail: 'The database is unreachable for a moment; try again shortly.' });
    }
    log.error({ err, method: req.method, path: req.path }, 'Unhandled error in a request.');
    problem(res, 500, { type: 'about:blank', title: 'Internal Server Error', code: 'internal', detail: 'Something went wrong on our side.' });
  };
}

/** Postgres text cannot hold U+0000: find it before any schema or query sees it (REST and WebSocket edges). */
export function findNul(value: unknown, path: (string | number)[], depth = 0): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path.join('.') : null;
  if (depth > 64 || value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) return [...path, k.replace(/\u0000/g, '')].join('.');
    const hit = findNul(v, [...path, k], depth + 1);
    if (hit) return hit;
  }
  return null;
}
