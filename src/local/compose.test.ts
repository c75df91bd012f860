// docker-compose.yml: each role's service gets exactly the secrets its role uses, each gets enough
// for its configuration to load, and Redis needs a password. (`docker-compose config` validates
// the file itself; there is no engine here to run it.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { loadConfig, type Role } from '../config.js';
import { APP_ROOT } from '../paths.js';
import { POSTGRES_SETTINGS, REDIS_SETTINGS } from './services.js';

type Service = { command?: string[] | string; environment?: Record<string, string>; env_file?: unknown; restart?: string; volumes?: string[] };
const compose = parse(readFileSync(path.join(APP_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

const SECRETS = ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'INTERNAL_API_KEY', 'PLAYBACK_SECRET', 'ADMIN_PASSWORD', 'DB_PASSWORD', 'REDIS_PASSWORD', 'POSTGRES_PASSWORD', 'RELAY_KEYS'];
// what each role reads (src/bin/<role>.ts and src/config.ts): the API signs tokens (JWT), signs
// playback URLs and takes viewer lines (playback secret) and serves /metrics (internal key);
// ingest and worker check the internal pull key and serve /metrics; migrate creates the admin;
// nginx checks playback tokens; api and worker seal and open relay destinations' stream keys; the
// LL-HLS origin hears Redis and serves /metrics
const NEEDS: Record<string, string[]> = {
  migrate: ['ADMIN_PASSWORD', 'DATABASE_URL'],
  ingest: ['DATABASE_URL', 'INTERNAL_API_KEY', 'REDIS_URL'],
  worker: ['DATABASE_URL', 'INTERNAL_API_KEY', 'REDIS_URL', 'RELAY_KEYS'],
  api: ['DATABASE_URL', 'INTERNAL_API_KEY', 'JWT_SECRET', 'PLAYBACK_SECRET', 'REDIS_URL', 'RELAY_KEYS'],
  nginx: ['PLAYBACK_SECRET'],
  origin: ['INTERNAL_API_KEY', 'REDIS_URL'],
};

/** The environment a container would get, with ${VAR:?…} filled with a value of a valid shape. */
function resolved(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_m, name: string, dflt?: string) => dflt ?? `${name.toLowerCase()}_${'x'.repeat(40)}`)]),
  );
}

t.test('every role service gets exactly the secrets its role uses', async (t) => {
  for (const [role, needs] of Object.entries(NEEDS)) {
    const s = services[role];
    t.ok(s, `${role} is a service`);
    t.notOk(s?.env_file, `${role}: no env_file (it would hand over every variable)`);
    const secrets = Object.keys(s?.environment ?? {}).filter((k) => SECRETS.includes(k)).sort();
    t.same(secrets, needs, `${role}: ${secrets.join(', ')}`);
  }
});

t.test("each role's configuration loads from what compose gives it", async (t) => {
  for (const role of Object.keys(NEEDS) as Role[]) {
    const env = resolved(services[role]!.environment ?? {});
    t.doesNotThrow(() => loadConfig(env, role), `${role} starts with its own environment`);
  }
  t.throws(() => loadConfig(resolved(services.ingest!.environment ?? {}), 'api'), /JWT_SECRET is required/, 'and the check has teeth: ingest’s environment would not do for the api');
});

t.test('Redis needs a password, and every Redis user sends it', async (t) => {
  const redis = services.redis!;
  const command = [redis.command ?? []].flat().join(' ');
  t.match(command, /requirepass/, 'the server is started with requirepass');
  t.notMatch(command, /requirepass \S*\$\{/, 'with the password kept out of its argv (read from the environment inside the container)');
  t.match(redis.environment?.REDIS_PASSWORD, /^\$\{REDIS_PASSWORD:\?/, 'REDIS_PASSWORD is required');
  for (const role of ['ingest', 'worker', 'api', 'origin']) t.match(services[role]!.environment?.REDIS_URL, /^redis:\/\/:\$\{REDIS_PASSWORD:\?[^}]*\}@redis:6379$/, `${role} connects with the password`);
  t.same(Object.keys(redis.environment ?? {}).filter((k) => SECRETS.includes(k)), ['REDIS_PASSWORD'], 'redis gets no other secret');
  t.same(Object.keys(services.postgres!.environment ?? {}).filter((k) => SECRETS.includes(k)), ['POSTGRES_PASSWORD'], 'postgres gets only its own');
});

t.test('Postgres and Redis are restarted when they die and run with the bare-metal start\'s settings', async (t) => {
  for (const name of ['postgres', 'redis']) t.match(services[name]!.restart, /^(always|unless-stopped)$/, `${name}: restart policy ${services[name]!.restart}`);
  const pgCommand = [services.postgres!.command ?? []].flat();
  t.equal(pgCommand[0], 'postgres', "postgres runs the image's server (its entrypoint still initialises the volume)");
  for (const setting of POSTGRES_SETTINGS) t.ok(pgCommand.join(' ').includes(`-c ${setting}`), `postgres: -c ${setting}`);
  // the Redis config goes in through printf: one setting a line
  const redisConfig = [services.redis!.command ?? []].flat().join(' ').split('\\n');
  for (const setting of REDIS_SETTINGS) t.ok(redisConfig.some((line) => line === setting || line.endsWith(` '${setting}`)), `redis: ${setting}`);
});

t.test('the worker writes recordings, the api deletes them and nginx serves them: all three mount the one recordings volume where RECORDINGS_DIR points', async (t) => {
  for (const role of ['worker', 'api', 'nginx']) {
    const env = resolved(services[role]!.environment ?? {});
    const dir = loadConfig(env, role as Role).recordings.dir;
    t.ok(services[role]!.volumes?.includes(`recordings:${dir}`), `${role} mounts recordings at ${dir}`);
  }
});

t.test('the api writes uploaded images and nginx serves them: both mount the one uploads volume where UPLOADS_DIR points', async (t) => {
  for (const role of ['api', 'nginx']) {
    const env = resolved(services[role]!.environment ?? {});
    const dir = loadConfig(env, role as Role).uploadsDir;
    t.ok(services[role]!.volumes?.includes(`uploads:${dir}`), `${role} mounts uploads at ${dir}`);
  }
  t.ok(Object.hasOwn((parse(readFileSync(path.join(APP_ROOT, 'docker-compose.yml'), 'utf8')) as { volumes: object }).volumes, 'uploads'), 'a named volume of its own');
});
