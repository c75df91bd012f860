// User administration endpoints: list, get, update, role, one-time set-password tokens, bulk import.
import { z } from 'zod';
import { assertMay } from '../access.js';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, idParams, isoDate, page, pageQuery, problems, toPage, uuid } from '../http/schemas.js';
import { IMPORT_MAX_ROWS } from './import.js';
import type { UserDetail, UsersService } from './service.js';
import { emailSchema, nameSchema, passwordSchema, roleSchema, userSchema, userView } from './view.js';

const listQuery = z
  .object({
    q: z
      .string()
      .trim()
      .min(1, 'q must not be empty')
      .max(200, 'q is at most 200 characters')
      .optional()
      .describe('Case-insensitive part of the name or email.'),
    role: roleSchema.optional(),
    ...pageQuery,
  })
  .strict();

const updateBody = z
  .object({
    name: nameSchema.optional(),
    email: emailSchema.optional(),
    password: passwordSchema.optional(),
    currentPassword: z.string().max(1024, 'currentPassword is at most 1024 characters').optional().describe('Required when changing your own password.'),
    role: roleSchema.optional().describe('Admins only; nobody can change their own role unless they are an admin.'),
  })
  .strict();

const roleBody = z.object({ role: roleSchema }).strict();

const importBody = z
  .union([
    z.string().describe('CSV text with a header row naming email, name and role (Content-Type: text/csv).'),
    z.array(z.unknown()).describe('Rows {email, name, role?}; each is validated on its own.'),
    z.object({ users: z.array(z.unknown()).describe('Rows {email, name, role?}; each is validated on its own.') }).strict(),
  ], { message: 'the body must be CSV text, an array of {email, name, role} or {users: [...]}' });

export const userDetailSchema = userSchema.extend({ hasPassword: z.boolean().describe('False for imported users until they set one.') });

const importResultSchema = z.object({
  line: z.number().int().describe('CSV: the line the record starts on (the header is line 1). JSON: the 1-based index in the array.'),
  email: z.string(),
  status: z.enum(['created', 'skipped', 'failed']),
  reason: z.string().optional().describe('Why a row was skipped or failed.'),
  userId: z.uuid().optional(),
  setPasswordToken: z.string().optional().describe('Created rows only: a one-time token for POST /api/auth/set-password. Shown only here.'),
});
const importReportSchema = z.object({ created: z.number().int(), skipped: z.number().int(), failed: z.number().int(), results: z.array(importResultSchema) });

const detailView = (u: UserDetail) => ({ ...userView(u), hasPassword: u.hasPassword });
/** created_at to the microsecond, as listUsers writes it; checked to be a real instant Postgres accepts. */
const createdKey = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
  .refine((s) => {
    const ms = Date.parse(s.slice(0, 23) + 'Z');
    return ms >= Date.UTC(1970, 0, 1) && new Date(ms).toISOString().slice(0, 23) === s.slice(0, 23);
  });
const cursorParts = [createdKey, uuid('cursor')] as const;

export function userEndpoints(deps: { users: UsersService }): Endpoint[] {
  const { users } = deps;
  return [
    endpoint({
      method: 'get', path: '/users', action: 'users.list', tag: 'users',
      summary: 'List users, newest first; search by name or email, filter by role',
      query: listQuery,
      answers: { 200: { description: 'A page of users.', schema: page(userDetailSchema) }, ...problems(400, 401, 403) },
      async handle({ query, res }) {
        const after = decodeCursor(query.cursor, cursorParts);
        const rows = await users.list({ q: query.q, role: query.role, limit: query.limit + 1, after: after && { createdKey: after[0], id: after[1] } });
        res.json(toPage(rows, query.limit, detailView, (u) => [u.createdKey, u.id]));
      },
    }),
    endpoint({
      method: 'get', path: '/users/:id', action: 'users.get', tag: 'users',
      summary: 'One user',
      params: idParams,
      answers: { 200: { description: 'The user.', schema: userDetailSchema }, ...problems(400, 401, 403, 404) },
      async handle({ params, me, res }) {
        assertMay(me, 'users.get', { self: me.id === params.id });
        res.json(detailView(await users.detail(params.id)));
      },
    }),
    endpoint({
      method: 'put', path: '/users/:id', action: 'users.update', tag: 'users',
      summary: 'Change a user’s name, email, password or role',
      description:
        'Changing your own password needs `currentPassword` and signs out your other devices; an admin setting ' +
        "someone else's password signs out all of theirs. Only admins may send `role`, and the last admin cannot be demoted. " +
        'A new password is hashed in the shared argon2 queue: 429 `rate_limited` while it is full.',
      params: idParams,
      body: updateBody,
      answers: { 200: { description: 'The updated user.', schema: userDetailSchema }, ...problems(400, 401, 403, 404, 409, 413, 415, 429) },
      async handle({ params, body, me, res }) {
        assertMay(me, 'users.update', { self: me.id === params.id });
        res.json(detailView(await users.update({ me, id: params.id, patch: body })));
      },
    }),
    endpoint({
      method: 'patch', path: '/users/:id/role', action: 'users.setRole', tag: 'users',
      summary: 'Change a user’s role; takes effect on their next request',
      description: 'The last admin cannot be demoted (409 last_admin).',
      params: idParams,
      body: roleBody,
      answers: { 200: { description: 'The updated user.', schema: userDetailSchema }, ...problems(400, 401, 403, 404, 409, 413, 415) },
      async handle({ params, body, res }) {
        res.json(detailView(await users.setRole({ id: params.id, role: body.role })));
      },
    }),
    endpoint({
      method: 'post', path: '/users/:id/password-token', action: 'users.passwordToken', tag: 'users',
      summary: 'Issue a one-time set-password token for the user (replaces their unused ones)',
      description: 'Hand the token to the user; they set their password with POST /api/auth/set-password. There is no mail server.',
      params: idParams,
      answers: { 200: { description: 'The token, shown only here.', schema: z.object({ token: z.string(), expiresAt: isoDate }) }, ...problems(400, 401, 403, 404) },
      async handle({ params, res }) {
        const { token, expiresAt } = await users.issuePasswordToken({ id: params.id });
        res.json({ token, expiresAt: expiresAt.toISOString() });
      },
    }),
    endpoint({
      method: 'post', path: '/users/import', action: 'users.import', tag: 'users', rowsCheckedByHandler: true,
      summary: 'Create many users at once from CSV or JSON; answers a report per row',
      description: [
        `Send \`text/csv\` with a header row naming the columns email, name and role (any order, any case; role may be empty or left out → attendee; ` +
          'RFC 4180 quoting; an optional UTF-8 BOM) or `application/json`: an array of `{email, name, role?}` or `{users: [...]}`.',
        `At most ${IMPORT_MAX_ROWS.toLocaleString('en')} rows (more → 413). Each row is validated on its own: valid rows are created in one transaction, ` +
          'an email that already has an account is `skipped` ("already exists"), a repeated email in the same file is `skipped` ("duplicate of line N"), ' +
          'and a bad row is `failed` with the field and why. Running the same file again creates nothing twice.',
        '`line` is the physical line a CSV record starts on (the header is line 1), or the 1-based index in a JSON array.',
        'Imported users have no password: each created row carries a one-time `setPasswordToken` for POST /api/auth/set-password, shown only in this answer.',
        'Imports are limited per admin (RATE_LIMIT_IMPORT, 6 an hour by default): past it, 429 `rate_limited` with Retry-After.',
      ].join('\n\n'),
      body: importBody,
      bodyTypes: ['application/json', 'text/csv'],
      bodyLimit: '16mb',
      answers: { 200: { description: 'What happened to each row.', schema: importReportSchema }, ...problems(400, 401, 403, 413, 415, 429, 503) },
      async handle({ body, me, res }) {
        res.json(await users.importUsers({ me, body }));
      },
    }),
  ];
}
