// The web face speaks only the public API (same origin: nginx serves /api, /ws and these pages),
// so anything a page does, a third-party client can do too. Errors arrive as problem+json and
// become ApiError with the server's words, shown to the person as they are.
import { clearToken, readToken } from './session.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
    /** Which fields were refused and why (400). */
    readonly fields: { field: string; message: string }[] = [],
  ) {
    super(message);
  }

  /** The server's words, with each refused field's message. */
  get words(): string {
    return this.fields.length > 0 ? this.fields.map((f) => f.message).join(' ') : this.message;
  }
}

/** `body`: JSON, or a Blob/File sent as its raw bytes with its own type (uploads). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const token = readToken();
  const raw = body instanceof Blob;
  let res: Response;
  try {
    res = await fetch(`/api${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': raw ? body.type || 'application/octet-stream' : 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'offline', 'The server can not be reached. Check your connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  const data: unknown = await res.json().catch(() => null);
  if (res.ok) return data as T;
  const problem = (data ?? {}) as { code?: string; detail?: string; retryAfterSeconds?: number; errors?: { field: string; message: string }[] };
  // a dead token (signed out elsewhere, revoked device): forget it, the page asks to sign in again
  if (res.status === 401 && token) clearToken();
  throw new ApiError(res.status, problem.code ?? 'error', problem.detail ?? `The server answered ${res.status}.`, problem.retryAfterSeconds, problem.errors ?? []);
}
