import pg from 'pg';
import t from 'tap';
import { silentLog } from '../log.js';
import { MIGRATIONS_DIR } from '../paths.js';
import { randomId, testEnv } from '../testing/harness.js';
import { migrate, readMigrations } from './migrate.js';

t.test('concurrent migrators apply each migration once, under the advisory lock', async (t) => {
  const { pgUrl } = testEnv();
  const name = `m_${randomId()}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(pgUrl);
  u.pathname = `/${name}`;
  const pools = [0, 1, 2].map(() => new pg.Pool({ connectionString: u.toString(), max: 2 }));
  // DROP … WITH (FORCE) may still find a closing connection; its error is expected here
  for (const p of pools) p.on('error', () => undefined);
  t.teardown(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  const results = await Promise.all(pools.map((pool) => migrate({ pool, dir: MIGRATIONS_DIR, log: silentLog() })));
  const all = (await readMigrations(MIGRATIONS_DIR)).map((m) => m.name);
  t.same(results.flat().sort(), all.sort(), 'each applied exactly once in total');
  const { rows } = await pools[0]!.query('SELECT name FROM schema_migrations ORDER BY version');
  t.same(rows.map((r) => r.name), all);
  t.same(await migrate({ pool: pools[0]!, dir: MIGRATIONS_DIR, log: silentLog() }), [], 'a second run does nothing');
});
