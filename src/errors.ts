// A few typed errors with an HTTP status and a stable code. Services throw them; the edges map
// them once (HTTP → application/problem+json, jobs → UnrecoverableError, ingest → socket closed).

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (message: string, details?: Record<string, unknown>) =>
  new AppError(400, 'bad_request', message, details);
export const unauthorized = (message = 'Sign in first.') => new AppError(401, 'unauthorized', message);
export const forbidden = (message = 'Your role may not do this.') => new AppError(403, 'forbidden', message);
export const notFound = (what: string) => new AppError(404, 'not_found', `${what} was not found.`);
export const conflict = (message: string, code = 'conflict') => new AppError(409, code, message);
/** Every rate-limit refusal, REST and WebSocket alike: 429 `rate_limited` with the seconds to wait. */
export const tooMany = (message: string, retryAfterSeconds: number) =>
  new AppError(429, 'rate_limited', message, { retryAfterSeconds });
export const unavailable = (message: string) => new AppError(503, 'unavailable', message);

/** Why an RTMP publish was refused. The message is safe to show to the broadcaster (no key). */
export class PublishRefused extends Error {
  constructor(
    readonly reason: 'unknown_key' | 'disabled' | 'stopped' | 'already_live' | 'unsupported_codec' | 'bad_app' | 'no_video' | 'internal',
    message: string,
  ) {
    super(message);
    this.name = 'PublishRefused';
  }
}
