// A destination's stream key at rest: AES-256-GCM under the first RELAY_KEYS entry, a random
// 12-byte nonce per encryption, the destination's id as additional data (a ciphertext copied onto
// another row does not decrypt there). Nothing here logs; errors never carry key material.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { RelayKey } from '../config.js';
import { AppError } from '../errors.js';

const TAG_BYTES = 16;

export interface SealedKey {
  ciphertext: Buffer; // ciphertext followed by the GCM tag
  nonce: Buffer;
  keyId: string;
}

/** RELAY_KEYS is not set: nothing can be encrypted (or decrypted). */
export const relayKeysMissing = () =>
  new AppError(503, 'relay_keys_missing', 'Relay destinations need RELAY_KEYS (an encryption key for their stream keys); ask the operator to set it.');

export class RelayKeyError extends Error {
  constructor(readonly reason: 'unknown_key_id' | 'tampered', message: string) {
    super(message);
    this.name = 'RelayKeyError';
  }
}

export function sealKey(o: { keys: readonly RelayKey[]; destinationId: string; plaintext: string }): SealedKey {
  const current = o.keys[0];
  if (!current) throw relayKeysMissing();
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', current.key, nonce);
  cipher.setAAD(Buffer.from(o.destinationId));
  const ciphertext = Buffer.concat([cipher.update(o.plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { ciphertext, nonce, keyId: current.id };
}

export function openKey(o: { keys: readonly RelayKey[]; destinationId: string; sealed: SealedKey }): string {
  const key = o.keys.find((k) => k.id === o.sealed.keyId);
  if (!key) throw new RelayKeyError('unknown_key_id', `The stream key of destination ${o.destinationId} was encrypted with RELAY_KEYS id "${o.sealed.keyId}", which is no longer configured.`);
  const body = o.sealed.ciphertext.subarray(0, -TAG_BYTES);
  const tag = o.sealed.ciphertext.subarray(-TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, o.sealed.nonce);
    decipher.setAAD(Buffer.from(o.destinationId));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    throw new RelayKeyError('tampered', `The stream key of destination ${o.destinationId} does not decrypt with RELAY_KEYS id "${key.id}" (altered, or a different key under that id).`);
  }
}

/** The last 4 characters, shown so an organiser can tell which key is set. */
export const keyHint = (plaintext: string) => plaintext.slice(-4);
