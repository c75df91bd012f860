// One pg pool per process. An idle client error must not crash the process (pg emits it on the pool).
import pg from 'pg';
import type { Log } from '../log.js';

export type Db = pg.Pool | pg.PoolClient;
export type Pool = pg.Pool;

export function createPool(opts: { url: string; log: Log; max?: number; applicationName?: string }): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 15_000,
    application_name: opts.applicationName ?? 'onair',
  });
  pool.on('error', (err) => opts.log.warn({ err: err.message }, 'A idle Postgres connection failed; the pool will replace it.'));
  return pool;
}

/** While a client is checked out the pool does not listen for its errors; a lost connection then fails the query in flight, and must not crash the process. */
const ignoreCheckedOutError = () => undefined;

export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  client.on('error', ignoreCheckedOutError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.removeListener('error', ignoreCheckedOutError);
    client.release();
  }
}
