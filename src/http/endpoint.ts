// One declaration per REST endpoint: path, action (→ the authorisation table), the zod schemas
// that validate its params/query/body, and its documented answers. The same list mounts the
// Express routes and generates the OpenAPI document, so the docs cannot drift from the checks.
import express, { type Request, type Response, type Router } from 'express';
import type { z } from 'zod';
import { isPublic, roleMay, alsoRule, type Action } from '../access.js';
import { AppError, forbidden, unauthorized } from '../errors.js';
import { validate } from './errors.js';
import type { Principal } from '../principal.js';

export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The image types a raw body may be (uploads); never SVG, which is a document that can carry script. */
export const RAW_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'] as const;
export type BodyType = 'application/json' | 'text/csv' | (typeof RAW_IMAGE_TYPES)[number];
const isRaw = (type: BodyType) => (RAW_IMAGE_TYPES as readonly string[]).includes(type);

export interface Answer {
  description: string;
  schema?: z.ZodType;
  /** Sent as application/problem+json. */
  problem?: boolean;
  /** Other representations the endpoint can answer with (e.g. text/csv), documented as text. */
  alsoAs?: string[];
}

export interface Ctx<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** The signed-in user; throws 401 on a public endpoint called without a token. */
  readonly me: Principal;
  /** The signed-in user when a token was sent, also on public endpoints. */
  principal: Principal | null;
  req: Request;
  res: Response;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface EndpointDef<P, Q, B> {
  method: Method;
  /** Express path under /api, e.g. '/events/:id'. */
  path: string;
  action: Action;
  summary: string;
  tag: string;
  description?: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Request content types accepted (default application/json). 'text/csv' arrives as a string, image types as a Buffer of the raw bytes. */
  bodyTypes?: readonly BodyType[];
  /** Body size limit (default 1mb); larger bodies get 413. */
  bodyLimit?: string;
  /** Raw bodies: the 413's words (e.g. the limit in the uploader's terms). */
  tooLarge?: string;
  /** The 415's words for a body of another type (default: the types accepted). */
  wrongType?: string;
  /** The handler checks each row of the body itself (NUL characters included): no whole-body NUL refusal. */
  rowsCheckedByHandler?: boolean;
  answers: Record<number, Answer>;
  handle(ctx: Ctx<Out<P>, Out<Q>, Out<B>>): Promise<void>;
}

export interface Endpoint {
  method: Method;
  path: string;
  action: Action;
  summary: string;
  tag: string;
  description?: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  bodyTypes?: readonly BodyType[];
  bodyLimit?: string;
  tooLarge?: string;
  wrongType?: string;
  rowsCheckedByHandler?: boolean;
  answers: Record<number, Answer>;
  handle(ctx: Ctx<any, any, any>): Promise<void>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Typed constructor: the handler sees the parsed types of its own schemas. */
export function endpoint<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(def: EndpointDef<P, Q, B>): Endpoint {
  return def as unknown as Endpoint;
}

export type Authenticator = (token: string, req: Request) => Promise<Principal>;

/** Sees every JSON answer an endpoint sends (tests check them against the declared schemas). */
export type AnswerCheck = (e: Endpoint, status: number, body: unknown) => void;

function bearer(req: Request): string | null {
  const header = req.get('authorization');
  if (header === undefined) return null;
  const m = /^Bearer\s+(\S{1,4096})$/i.exec(header);
  if (!m) throw unauthorized('Send the token as: Authorization: Bearer <token>.');
  return m[1]!;
}

function hasBody(req: Request): boolean {
  return req.get('transfer-encoding') !== undefined || Number(req.get('content-length') ?? 0) > 0;
}

/**
 * The raw body (a Buffer) with its refusals in words: too large (413, refused from Content-Length
 * before a byte is read when it is sent) and an upload cut off before its end (400; the client is
 * usually gone, but a proxy that waits gets a clear answer). Nothing is written anywhere before
 * the whole body has arrived.
 */
function rawParser(limit: string, type: string[], tooLarge: string | undefined): express.RequestHandler {
  const parse = express.raw({ limit, type });
  return (req, res, next) =>
    parse(req, res, (err?: unknown) => {
      const e = err as { status?: number; type?: string } | undefined;
      if (e?.status === 413) return next(new AppError(413, 'payload_too_large', tooLarge ?? `The request body is larger than ${limit}.`));
      if (e?.type === 'request.aborted' || e?.type === 'request.size.invalid') return next(new AppError(400, 'bad_request', 'The upload was cut off before its end; send the whole file again.'));
      next(err);
    });
}

/** Sees how long each request to an endpoint took and how it ended (metrics). */
export type RequestObserver = (e: Endpoint, status: number, seconds: number) => void;

/** Mounts the endpoints on a router: parse body → authenticate → role check → validate → handle. */
export function mountEndpoints(router: Router, endpoints: readonly Endpoint[], authenticate: Authenticator, check?: AnswerCheck, observe?: RequestObserver): void {
  for (const e of endpoints) {
    const types = e.bodyTypes ?? ['application/json'];
    const limit = e.bodyLimit ?? '1mb';
    const parsers = e.body
      ? [
          ...(types.includes('application/json') ? [express.json({ limit, type: ['application/json', 'application/*+json'] })] : []),
          ...(types.includes('text/csv') ? [express.text({ limit, type: 'text/csv' })] : []),
          ...(types.some(isRaw) ? [rawParser(limit, types.filter(isRaw), e.tooLarge)] : []),
        ]
      : [];
    router[e.method](e.path, async (req, res, next) => {
      if (observe) {
        const start = process.hrtime.bigint();
        res.once('finish', () => observe(e, res.statusCode, Number(process.hrtime.bigint() - start) / 1e9));
      }
      // Who is asking comes first: an anonymous caller learns nothing about bodies it may not send.
      const token = bearer(req);
      const principal = token === null ? null : await authenticate(token, req);
      req.principal = principal;
      if (!isPublic(e.action)) {
        if (!principal) throw unauthorized();
        if (!roleMay(principal.role, e.action) && !alsoRule(e.action)) throw forbidden();
      }
      if (e.body && hasBody(req) && !req.is([...types])) {
        throw new AppError(415, 'unsupported_media_type', e.wrongType ?? `Send the body as ${types.join(' or ')}.`);
      }
      next();
    }, ...parsers, async (req, res) => {
      if (check) {
        const json = res.json.bind(res);
        res.json = (body: unknown) => (check(e, res.statusCode, body), json(body));
      }
      const principal = req.principal ?? null;
      const ctx: Ctx<unknown, unknown, unknown> = {
        params: e.params ? validate(e.params, req.params, 'params') : undefined,
        query: e.query ? validate(e.query, req.query, 'query') : undefined,
        // raw bytes (images) are no text: a NUL byte is fine there, and Postgres never sees them
        body: e.body ? validate(e.body, req.body, 'body', { refuseNul: !e.rowsCheckedByHandler && !types.some(isRaw) }) : undefined,
        get me(): Principal {
          if (!principal) throw unauthorized();
          return principal;
        },
        principal,
        req,
        res,
      };
      await e.handle(ctx);
    });
  }
}
