// migrate role: applies migrations/*.sql, creates the first admin from ADMIN_EMAIL/ADMIN_PASSWORD, exits.
import { createPool } from '../db/pool.js';
import { migrate } from '../db/migrate.js';
import { MIGRATIONS_DIR } from '../paths.js';
import { hashPassword } from '../auth/passwords.js';
import { ensureAdmin } from '../users/service.js';
import { runRole } from './role.js';

await runRole('migrate', async ({ config, log }) => {
  const pool = createPool({ url: config.databaseUrl!, log, max: 2, applicationName: 'onair-migrate' });
  try {
    const applied = await migrate({ pool, dir: MIGRATIONS_DIR, log });
    log.info({ applied: applied.length }, applied.length ? `Applied ${applied.length} migration(s).` : 'The database is up to date.');
    if (config.adminEmail && config.adminPassword) {
      await ensureAdmin({ db: pool, log, hashPassword, email: config.adminEmail, password: config.adminPassword });
    }
  } finally {
    await pool.end();
  }
  process.exit(0);
});
