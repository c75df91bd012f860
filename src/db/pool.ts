// One pg pool per process. An idle client error must not crash the process (pg emits it on the pool).
import pg from 'pg';
import type { Log } from '../log.js';

export type Db = pg.Pool | pg.PoolClient;
export type Pool = pg.Pool;

/** Server-side bound on a statement (cancels runaway queries on a server that answers). */
export const STATEMENT_TIMEOUT_MS = 15_000;
/**
 * Client-side bound on waiting for an answer: statement_timeout does nothing for a server that
 * is stopped or frozen (SIGSTOP, a hung host), and a query would wait forever. A little above
 * statement_timeout, so that a server that answers always reports its own timeout first.
 */
export const QUERY_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 5_000;

export function createPool(opts: { url: string; log: Log; max?: number; applicationName?: string }): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    application_name: opts.applicationName ?? 'onair',
  });
  pool.on('error', (err) => opts.log.warn({ err: err.message }, 'A idle Postgres connection failed; the pool will replace it.'));
  return pool;
}

/**
 * True when an error says the connection itself is unusable (no answer in time, connection lost,
 * the server shutting down or starting up) rather than that the server refused a statement or
 * the caller threw.
 */
export function isConnectionFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // SQLSTATE class 08: connection exception; 57P01–57P03: shutting down, crashed, starting up
  if (err instanceof pg.DatabaseError) return /^(08|57P0[1-3])/.test(err.code ?? '');
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true; // ECONNRESET, EPIPE, ETIMEDOUT …
  return /Query read timeout|Connection terminated|Connection ended|connection timeout|timeout exceeded when trying to connect/i.test(err.message);
}

/** While a client is checked out the pool does not listen for its errors; a lost connection then fails the query in flight, and must not crash the process. */
const ignoreCheckedOutError = () => undefined;

export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  client.on('error', ignoreCheckedOutError);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // a connection that did not answer (or is lost) goes back with the error, so that the pool
    // destroys it: a ROLLBACK would only wait behind the unanswered query, and the server rolls
    // back the transaction of a connection that closes
    if (isConnectionFailure(err)) broken = err as Error;
    else await client.query('ROLLBACK').catch((rollbackFailed: Error) => (broken = rollbackFailed));
    throw err;
  } finally {
    client.removeListener('error', ignoreCheckedOutError);
    client.release(broken);
  }
}
