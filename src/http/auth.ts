// JWT (HS256, algorithm pinned on verify, issuer and audience checked) sent as Bearer.
import type { RequestHandler, Request } from 'express';
import { jwtVerify, SignJWT } from 'jose';
import { forbidden, unauthorized } from '../errors.js';
import type { Role, User } from '../users/service.js';

const ISSUER = 'onair';
const AUDIENCE = 'onair-api';

export interface AuthUser {
  id: string;
  role: Role;
}

export interface TokenService {
  sign(user: Pick<User, 'id' | 'role'>): Promise<string>;
  verify(token: string): Promise<AuthUser>;
}

export function createTokenService(opts: { secret: string; expiresInSeconds: number }): TokenService {
  const key = new TextEncoder().encode(opts.secret);
  return {
    sign: (user) =>
      new SignJWT({ role: user.role })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(user.id)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${opts.expiresInSeconds}s`)
        .sign(key),
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
        if (typeof payload.sub !== 'string' || typeof payload.role !== 'string') throw new Error('claims');
        return { id: payload.sub, role: payload.role as Role };
      } catch {
        throw unauthorized('The token is not valid or has expired.');
      }
    },
  };
}

declare module 'express-serve-static-core' {
  interface Request {
    user?: AuthUser;
  }
}

export function authenticate(tokens: TokenService): RequestHandler {
  return async (req, _res, next) => {
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) return next(unauthorized('Send a token: Authorization: Bearer <token>.'));
    req.user = await tokens.verify(m[1]!);
    next();
  };
}

export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    if (!req.user) return next(unauthorized());
    if (!roles.includes(req.user.role)) return next(forbidden());
    next();
  };
}

export function currentUser(req: Request): AuthUser {
  if (!req.user) throw unauthorized();
  return req.user;
}
