// JWT (HS256, algorithm pinned on verify, issuer and audience checked) sent as Bearer. A token
// names its device session (`sid`); whether that device is still signed in, and the user's
// current role, come from the auth service, so revocation and role changes apply at once.
import { jwtVerify, SignJWT } from 'jose';
import { unauthorized } from '../errors.js';
import type { Principal } from '../principal.js';

const ISSUER = 'onair';
const AUDIENCE = 'onair-api';

export interface TokenClaims {
  userId: string;
  deviceId: string;
}

export interface VerifiedClaims extends TokenClaims {
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export interface TokenService {
  sign(claims: TokenClaims): Promise<string>;
  /** Checks signature, algorithm, issuer, audience and expiry; throws 401 otherwise. */
  verify(token: string): Promise<VerifiedClaims>;
  readonly expiresInSeconds: number;
}

export function createTokenService(opts: { secret: string; expiresInSeconds: number }): TokenService {
  const key = new TextEncoder().encode(opts.secret);
  return {
    expiresInSeconds: opts.expiresInSeconds,
    sign: (c) =>
      new SignJWT({ sid: c.deviceId })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(c.userId)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${opts.expiresInSeconds}s`)
        .sign(key),
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
        if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.exp !== 'number') throw new Error('claims');
        return { userId: payload.sub, deviceId: payload.sid, expiresAt: payload.exp * 1000 };
      } catch {
        throw unauthorized('The token is not valid or has expired; sign in again.');
      }
    },
  };
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal | null;
  }
}
