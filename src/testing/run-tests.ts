// `npm test`: starts a throwaway Postgres and Redis (unless TEST_DATABASE_URL / TEST_REDIS_URL
// point at servers that allow CREATE DATABASE), runs tap over every compiled *.test.js, stops
// the services, and exits with tap's status. Each integration test file makes its own database
// and Redis key prefix, so files run in parallel without seeing each other.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { APP_ROOT } from '../paths.js';
import type { Managed } from '../local/processes.js';
import { ensureTraversable, startPostgres, startRedis } from '../local/services.js';

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    else if (entry.name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

async function main(): Promise<number> {
  const filter = process.argv.slice(2);
  const say = (t: string) => process.stdout.write(t + '\n');
  const services: Managed[] = [];
  let pgUrl = process.env.TEST_DATABASE_URL;
  let redisUrl = process.env.TEST_REDIS_URL;
  // ONAIR_TEST_DIR lets two runs on one checkout keep apart (the directory is wiped at start)
  const dir = path.resolve(process.env.ONAIR_TEST_DIR ?? path.join(APP_ROOT, '.onair-test'));
  try {
    if (!pgUrl || !redisUrl) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(path.join(dir, 'logs'), { recursive: true, mode: 0o755 });
      ensureTraversable(dir, say);
      const password = randomBytes(16).toString('hex');
      const common = { password, logDir: path.join(dir, 'logs'), onConsole: (t: string) => process.stderr.write(t + '\n') };
      if (!pgUrl) {
        const pg = await startPostgres({ dir: path.join(dir, 'postgres'), ...common });
        services.push(pg.process);
        pgUrl = pg.url;
      }
      if (!redisUrl) {
        const redis = await startRedis({ dir: path.join(dir, 'redis'), ...common });
        services.push(redis.process);
        redisUrl = redis.url;
      }
    }
    let files = findTests(path.join(APP_ROOT, 'dist'));
    if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
    // tap given no file runs every test it finds: a filter that matches nothing is a mistake
    if (filter.length && files.length === 0) {
      process.stderr.write(`No compiled test file matches ${filter.join(', ')} (is it built?).\n`);
      return 1;
    }
    const tap = path.join(APP_ROOT, 'node_modules', '.bin', 'tap');
    const child = spawn(tap, ['--disable-coverage', '--jobs=2', '--timeout=300', ...files], {
      stdio: 'inherit',
      env: { ...process.env, TEST_DATABASE_URL: pgUrl, TEST_REDIS_URL: redisUrl, TEST_WORK_DIR: path.join(dir, 'work') },
    });
    return await new Promise<number>((resolve) => child.once('close', (code) => resolve(code ?? 1)));
  } finally {
    for (const s of services.reverse()) await s.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`npm test could not start its services: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
