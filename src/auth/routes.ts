// Auth endpoints: register, login, logout, me, devices, set-password.
import { z } from 'zod';
import type { Request } from 'express';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, idParams, isoDate, page, pageQuery, problems, toPage, timeIdCursor } from '../http/schemas.js';
import type { UsersService } from '../users/service.js';
import { emailSchema, nameSchema, passwordSchema, userSchema, userView } from '../users/view.js';
import type { AuthService, ClientInfo, Device } from './service.js';

const registerBody = z.object({ email: emailSchema, password: passwordSchema, name: nameSchema }).strict();
const loginBody = z
  .object({ email: z.string().trim().min(1, 'email is required').max(320, 'email is at most 320 characters'), password: z.string().min(1, 'password is required').max(1024, 'password is at most 1024 characters') })
  .strict();
const setPasswordBody = z.object({ token: z.string().min(1, 'token is required').max(200, 'token is not valid'), password: passwordSchema }).strict();

const deviceSchema = z.object({
  id: z.uuid(),
  userAgent: z.string(),
  ip: z.string().nullable(),
  createdAt: isoDate,
  lastSeenAt: isoDate,
  expiresAt: isoDate,
  current: z.boolean(),
});

const pageOnly = z.object(pageQuery).strict();

const client = (req: Request): ClientInfo => ({ ip: req.ip ?? null, userAgent: req.get('user-agent') ?? '' });

export function authEndpoints(deps: { auth: AuthService; users: UsersService }): Endpoint[] {
  const { auth } = deps;
  return [
    endpoint({
      method: 'post', path: '/auth/register', action: 'auth.register', tag: 'auth',
      summary: 'Register an attendee account',
      description: 'Answers 202 whether or not the email already has an account, so registering cannot be used to find out which emails do. Sign in afterwards with POST /auth/login.',
      body: registerBody,
      answers: { 202: { description: 'Accepted: sign in with the email and password.', schema: z.object({ status: z.literal('accepted'), message: z.string() }) }, ...problems(400, 413, 415, 429, 503) },
      async handle({ body, req, res }) {
        await auth.register(body, client(req));
        res.status(202).json({ status: 'accepted', message: 'If this email can be registered, the account now exists: sign in with your email and password.' });
      },
    }),
    endpoint({
      method: 'post', path: '/auth/login', action: 'auth.login', tag: 'auth',
      summary: 'Sign in; starts a device session',
      description:
        'Attempts are counted per account and client IP, per client IP and per account before the password is checked; past an allowance ' +
        'the next attempt waits a growing delay (429 `rate_limited` with Retry-After). An address that has not failed on an account is not ' +
        'held by the failures of others on it. 429 also when the password checks are busy.',
      body: loginBody,
      answers: {
        200: { description: 'Signed in.', schema: z.object({ token: z.string(), user: userSchema, deviceId: z.uuid(), expiresAt: isoDate }) },
        ...problems(400, 401, 413, 415, 429, 503),
      },
      async handle({ body, req, res }) {
        const r = await auth.login(body, client(req));
        res.json({ token: r.token, user: userView(r.user), deviceId: r.deviceId, expiresAt: r.expiresAt.toISOString() });
      },
    }),
    endpoint({
      method: 'post', path: '/auth/logout', action: 'auth.logout', tag: 'auth',
      summary: 'Sign out this device; its token stops working at once',
      answers: { 204: { description: 'Signed out.' }, ...problems(401) },
      async handle({ me, res }) {
        await auth.logout(me);
        res.status(204).end();
      },
    }),
    endpoint({
      method: 'get', path: '/auth/me', action: 'auth.me', tag: 'auth',
      summary: 'The signed-in user',
      answers: { 200: { description: 'The user.', schema: userSchema.extend({ deviceId: z.uuid() }) }, ...problems(401) },
      async handle({ me, res }) {
        const user = await deps.users.get(me.id);
        res.json({ ...userView(user), deviceId: me.deviceId });
      },
    }),
    endpoint({
      method: 'get', path: '/auth/devices', action: 'auth.devices.list', tag: 'auth',
      summary: "The signed-in user's devices (live sign-ins), newest sign-in first",
      query: pageOnly,
      answers: { 200: { description: 'A page of devices; `current` marks the one asking.', schema: page(deviceSchema) }, ...problems(400, 401) },
      async handle({ me, query, res }) {
        const after = decodeCursor(query.cursor, timeIdCursor);
        const rows = await auth.devices(me, { limit: query.limit + 1, after: after && { createdAt: after[0], id: after[1] } });
        const view = (d: Device) => ({
          id: d.id,
          userAgent: d.userAgent,
          ip: d.ip,
          createdAt: d.createdAt.toISOString(),
          lastSeenAt: d.lastSeenAt.toISOString(),
          expiresAt: d.expiresAt.toISOString(),
          current: d.id === me.deviceId,
        });
        res.json(toPage(rows, query.limit, view, (d) => [d.createdAt, d.id]));
      },
    }),
    endpoint({
      method: 'delete', path: '/auth/devices/:id', action: 'auth.devices.revoke', tag: 'auth',
      summary: 'Sign out one of your devices; its token stops working at once (REST and WebSocket)',
      params: idParams,
      answers: { 204: { description: 'Revoked.' }, ...problems(400, 401, 404) },
      async handle({ me, params, res }) {
        await auth.revokeDevice(me, params.id);
        res.status(204).end();
      },
    }),
    endpoint({
      method: 'post', path: '/auth/set-password', action: 'auth.setPassword', tag: 'auth',
      summary: 'Set a password with a one-time token (given to an admin when importing users)',
      body: setPasswordBody,
      description: 'Throttled per client IP (made-up tokens) and per token: 429 `rate_limited` with Retry-After.',
      answers: { 204: { description: 'Password set; sign in with it.' }, ...problems(400, 413, 415, 429, 503) },
      async handle({ body, req, res }) {
        await auth.setPassword(body, client(req));
        res.status(204).end();
      },
    }),
  ];
}
