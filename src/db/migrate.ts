// Applies migrations/NNN_name.sql in order, each in its own transaction, serialised across
// processes by an advisory lock, recorded in schema_migrations.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { Log } from '../log.js';

const LOCK_ID = 7_202_611; // arbitrary, constant: every Onair migrator takes the same lock

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function readMigrations(dir: string): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{3,}_[a-z0-9_-]+\.sql$/.test(f)).sort();
  const seen = new Set<number>();
  const out: Migration[] = [];
  for (const file of files) {
    const version = Number(file.split('_')[0]);
    if (seen.has(version)) throw new Error(`Two migrations share the number ${version}.`);
    seen.add(version);
    out.push({ version, name: file, sql: await readFile(path.join(dir, file), 'utf8') });
  }
  return out;
}

export async function migrate(opts: { pool: pg.Pool; dir: string; log: Log }): Promise<string[]> {
  const migrations = await readMigrations(opts.dir);
  const client = await opts.pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_ID]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      try {
        await client.query('BEGIN');
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new Error(`Migration ${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m.name);
      opts.log.info({ migration: m.name }, `Applied migration ${m.name}.`);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined);
    client.release();
  }
  return applied;
}
