// Stream keys and playback ids. Keys use the alphabet RTMP stream names allow ([A-Za-z0-9_-]),
// carry 192 random bits, and are stored only as a SHA-256 digest (a fast hash is enough for
// a value this random; there is nothing to brute-force).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const STREAM_KEY_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

export function newStreamKey(): string {
  return 'live_' + randomBytes(24).toString('base64url');
}

/** What newPlaybackId makes: it names a media directory, so anything else is refused before use. */
export const PLAYBACK_ID_PATTERN = /^[a-z0-9]{20}$/;

export function newPlaybackId(): string {
  // lowercase and digits only: easy to read aloud, safe in any URL or file name
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(20);
  let id = '';
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}

export function keyDigest(streamKey: string): Buffer {
  return createHash('sha256').update(streamKey, 'utf8').digest();
}

/** Signature that lets a worker pull one publish session from the ingest (internal pull). */
export function pullSignature(internalApiKey: string, publishSessionId: string): string {
  return createHmac('sha256', internalApiKey).update(`pull:${publishSessionId}`).digest('base64url');
}

export function verifyPullSignature(internalApiKey: string, publishSessionId: string, sig: unknown): boolean {
  if (typeof sig !== 'string') return false;
  const expected = Buffer.from(pullSignature(internalApiKey, publishSessionId));
  const given = Buffer.from(sig);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
