// Schema pieces every feature shares: ids, the list convention, cursors, problem answers.
import { z } from 'zod';
import { badRequest } from '../errors.js';
import type { Answer } from './endpoint.js';

export const uuid = (name: string) => z.uuid({ message: `${name} must be a UUID` });
export const idParams = z.object({ id: uuid('id') }).strict();

/** The list convention: ?limit= (default 20, max 100) and ?cursor= → {items, nextCursor}. */
export const pageQuery = {
  limit: z.coerce.number({ message: 'limit must be a number' }).int('limit must be a whole number').min(1, 'limit is at least 1').max(100, 'limit is at most 100').default(20),
  cursor: z.string().max(300, 'cursor is not one this API gave out').optional(),
};

export const page = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const isoDate = z.iso.datetime({ offset: true });

/** A PUT body that changes the fields given: each field optional, unknown ones refused, at least one sent. */
export const partialUpdate = <T extends z.ZodRawShape>(fields: T) =>
  z.object(fields).partial().strict().refine((b) => Object.keys(b).length > 0, 'send at least one field to change');

/** The usual cursor: (a time at millisecond precision, an id) of the previous page's last item. */
export const timeIdCursor = [isoDate.transform((d) => new Date(d)), uuid('cursor')] as const;

/** A cursor is the sort key of the last item of the previous page, opaque to clients. */
export function encodeCursor(parts: (string | number | Date)[]): string {
  return Buffer.from(JSON.stringify(parts.map((p) => (p instanceof Date ? p.toISOString() : p)))).toString('base64url');
}

/** Decodes a cursor made by encodeCursor and checks each part with its schema; a bad cursor is a 400. */
export function decodeCursor<T extends readonly z.ZodType[]>(cursor: string | undefined, parts: T): { [K in keyof T]: z.output<T[K]> } | undefined {
  if (cursor === undefined) return undefined;
  const bad = () => badRequest('The request query is not valid.', { errors: [{ field: 'query.cursor', message: 'cursor is not one this API gave out' }] });
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(values) || values.length !== parts.length) throw bad();
  const out = parts.map((schema, i) => schema.safeParse(values[i]));
  if (out.some((r) => !r.success)) throw bad();
  return out.map((r) => r.data) as { [K in keyof T]: z.output<T[K]> };
}

/** Builds {items, nextCursor} from a query that fetched limit + 1 rows. */
export function toPage<T, V>(rows: T[], limit: number, view: (row: T) => V, cursorOf: (row: T) => (string | number | Date)[]): { items: V[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items: items.map(view), nextCursor: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null };
}

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  code: z.string(),
  detail: z.string(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  /** On 429 (`rate_limited`, `slow_mode`): seconds to wait, as in the Retry-After header. */
  retryAfterSeconds: z.number().int().optional(),
});

const problemText: Record<number, string> = {
  400: 'The request is not valid; `errors` lists each field and why.',
  401: 'No token, or the token is not valid, expired or signed out.',
  403: 'Your role may not do this.',
  404: 'Not found (or not visible to you).',
  409: 'Conflicts with the current state.',
  413: 'The request body is too large.',
  415: 'The body has the wrong content type.',
  429: 'Too many attempts; see Retry-After.',
  500: 'Something failed on the appliance; `detail` says what.',
  503: 'A backing service is unavailable.',
  507: 'The appliance’s disk is full.',
};

/** Problem answers for the given statuses, all as application/problem+json. */
export function problems(...statuses: number[]): Record<number, Answer> {
  return Object.fromEntries(statuses.map((s) => [s, { description: problemText[s] ?? 'Error.', schema: problemSchema, problem: true }]));
}
