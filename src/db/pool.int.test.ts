// A transaction's connection that dies while the client is checked out (Postgres killed or
// restarted between two statements: the pool no longer listens for that client's errors then)
// fails the transaction; it does not crash the process with an unhandled 'error' event.
import t from 'tap';
import { silentLog } from '../log.js';
import { testDatabase } from '../testing/harness.js';
import { createPool, withTransaction } from './pool.js';

const { url, pool: admin } = await testDatabase(t);
const pool = createPool({ url, log: silentLog(), max: 2 });
t.teardown(() => pool.end());

t.test('the connection of a transaction in hand is terminated: the transaction fails, the process lives on', async (t) => {
  await t.rejects(
    withTransaction(pool, async (client) => {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      // no statement in flight while the connection goes: only an 'error' event can tell
      await new Promise((r) => setTimeout(r, 300));
      await client.query('SELECT 1');
    }),
  );
  t.equal((await withTransaction(pool, (c) => c.query<{ one: number }>('SELECT 1 AS one'))).rows[0]!.one, 1, 'the pool works on');
});
