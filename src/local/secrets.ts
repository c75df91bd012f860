// Secrets the one-box start generates once and keeps in <DATA_DIR>/secrets.json (mode 600):
// JWT, playback and internal keys, the embedded Postgres/Redis passwords, the first admin's password
// and the relay key (encrypts relay destinations' stream keys; RELAY_KEYS "local:<relayKey>").
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface LocalSecrets {
  jwtSecret: string;
  internalApiKey: string;
  playbackSecret: string;
  postgresPassword: string;
  redisPassword: string;
  adminPassword: string;
  /** 32 random bytes in base64: the one-box start's RELAY_KEYS entry `local` when RELAY_KEYS is unset. */
  relayKey: string;
}

const random = (bytes: number) => randomBytes(bytes).toString('base64url');

export function loadOrCreateSecrets(dataDir: string): { secrets: LocalSecrets; created: boolean } {
  const file = path.join(dataDir, 'secrets.json');
  if (existsSync(file)) {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalSecrets>;
    const secrets: LocalSecrets = {
      jwtSecret: parsed.jwtSecret ?? random(48),
      internalApiKey: parsed.internalApiKey ?? random(32),
      playbackSecret: parsed.playbackSecret ?? random(32),
      postgresPassword: parsed.postgresPassword ?? random(24),
      redisPassword: parsed.redisPassword ?? random(24),
      adminPassword: parsed.adminPassword ?? random(12),
      // added to an older secrets.json on its next start; never replaced (destinations' keys depend on it)
      relayKey: parsed.relayKey ?? randomBytes(32).toString('base64'),
    };
    writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
    return { secrets, created: false };
  }
  const secrets: LocalSecrets = {
    jwtSecret: random(48),
    internalApiKey: random(32),
    playbackSecret: random(32),
    postgresPassword: random(24),
    redisPassword: random(24),
    adminPassword: random(12),
    relayKey: randomBytes(32).toString('base64'),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  return { secrets, created: true };
}
