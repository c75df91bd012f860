// Password hashing and checking (argon2id): the one place that knows the parameters. Users get
// these through the hooks the composition root hands them; nothing else imports argon2.
import argon2 from 'argon2';

/** The production cost (argon2's own defaults, written out so a change is a visible diff and a failing test). */
export const PRODUCTION_ARGON2 = { type: argon2.argon2id, memoryCost: 65_536, timeCost: 3, parallelism: 4 } as const;

/** Hashes at the production cost, outside any queue: for seeding test data and benches. */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, PRODUCTION_ARGON2);
}

/** The parameters a hash was made with live in the hash, so any cost verifies. A malformed hash is "no". */
export function verifyPassword(hash: string, password: string): Promise<boolean> {
  return argon2.verify(hash, password).catch(() => false);
}
