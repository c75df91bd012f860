// Per-viewer playback tokens. A viewer's URL is
//   /hls/<playbackId>/v/<viewerId>.<expires>.<signature>/master.m3u8
// viewerId: the session id and the user id, 16 bytes each, base64url (44 characters) — one
//   viewer per (user, session), whatever the number of devices or players;
// expires: unix seconds; signature: base64url(md5("<expires><playbackId><viewerId> <secret>")),
//   the form nginx's secure_link_md5 checks (src/local/nginx-config.ts), so nginx refuses a
//   forged or altered token without asking the API.
// The token is a capability for one viewer's playback: never log it (nginx logs the viewer id).
import { createHash } from 'node:crypto';
import { playbackUrl, type Config } from '../config.js';
import { THUMBNAIL_NAME } from '../thumbnails.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOKEN = /^([A-Za-z0-9_-]{44})\.([0-9]{1,12})\.([A-Za-z0-9_-]{22})$/;
/**
 * A URL stays the same for an hour (cache-friendly) and its signature holds for a day past the
 * later of now and its session's end plus the grace: generous, because the playback gate
 * (playback-gate.ts) decides when it plays; the expiry only bounds a URL if the gate stops.
 */
const LIFETIME_SECONDS = 24 * 3600;

export const uuidToB64 = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex').toString('base64url');
function b64ToUuid(s: string): string | null {
  const hex = Buffer.from(s, 'base64url').toString('hex');
  if (hex.length !== 32) return null;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function viewerId(sessionId: string, userId: string): string {
  if (!UUID.test(sessionId) || !UUID.test(userId)) throw new Error('viewerId takes two UUIDs');
  return uuidToB64(sessionId) + uuidToB64(userId);
}

/** The session and user a viewer id names, or null when it is not one. */
export function parseViewerId(vid: string): { sessionId: string; userId: string } | null {
  if (!/^[A-Za-z0-9_-]{44}$/.test(vid)) return null;
  const sessionId = b64ToUuid(vid.slice(0, 22));
  const userId = b64ToUuid(vid.slice(22));
  return sessionId && userId ? { sessionId, userId } : null;
}

function signature(secret: string, playbackId: string, vid: string, expires: number): string {
  return createHash('md5').update(`${expires}${playbackId}${vid} ${secret}`).digest('base64url');
}

export function signPlaybackToken(secret: string, o: { playbackId: string; sessionId: string; userId: string; nowMs?: number; validUntilMs?: number }): string {
  const now = Math.floor(Math.max(o.nowMs ?? Date.now(), o.validUntilMs ?? 0) / 1000);
  const expires = Math.ceil(now / 3600) * 3600 + LIFETIME_SECONDS;
  const vid = viewerId(o.sessionId, o.userId);
  return `${vid}.${expires}.${signature(secret, o.playbackId, vid, expires)}`;
}

/** The session id of staff previews (GET /api/streams): checked by nginx like any token, never counted. */
export const PREVIEW_SESSION_ID = '00000000-0000-0000-0000-000000000000';

// The playback gate (src/analytics/playback-gate.ts): beside the signature, nginx serves a viewer
// URL only while <media>/access/open/<session id, base64url> exists and
// <media>/access/deny/<viewer id> does not. API nodes keep these files in line with the database.
export const OPEN_MARKERS = 'access/open';
export const DENY_MARKERS = 'access/deny';
/** A recording's replay URLs play while <media>/access/replay/<recording id> exists (it is ready). */
export const REPLAY_MARKERS = 'access/replay';
/** The session part of a staff preview's viewer id: previews are not gated by a session window. */
export const PREVIEW_SESSION_B64 = uuidToB64(PREVIEW_SESSION_ID);

/** The URL this user plays the stream with: personal while PLAYBACK_TOKENS is on, else the plain one. */
export function viewerPlaybackUrl(
  config: Pick<Config, 'hlsHost' | 'publicScheme' | 'playbackTokens' | 'playbackSecret'>,
  o: { playbackId: string; sessionId: string; userId: string; validUntilMs?: number },
): string {
  return playbackUrl(config, o.playbackId, config.playbackTokens ? signPlaybackToken(config.playbackSecret, o) : undefined);
}

/**
 * The URL this user sees the stream's live thumbnail with: the playback URL's token (nginx checks
 * the signature over playback id and viewer, not the file name) with the picture in place of the
 * master playlist; so the same person, window and bans apply, and the request is never counted.
 */
export function viewerThumbnailUrl(
  config: Pick<Config, 'hlsHost' | 'publicScheme' | 'playbackTokens' | 'playbackSecret'>,
  o: { playbackId: string; sessionId: string; userId: string; validUntilMs?: number },
): string {
  return viewerPlaybackUrl(config, o).replace(/master\.m3u8$/, THUMBNAIL_NAME);
}

/** What nginx checks, for tests and tools: the viewer a token names, or why it is refused. */
export function checkPlaybackToken(secret: string, playbackId: string, token: string, nowMs = Date.now()): { sessionId: string; userId: string } | 'forged' | 'expired' {
  const m = TOKEN.exec(token);
  if (!m) return 'forged';
  const [, vid, exp, sig] = m as unknown as [string, string, string, string];
  if (signature(secret, playbackId, vid, Number(exp)) !== sig) return 'forged';
  if (Number(exp) * 1000 <= nowMs) return 'expired';
  return parseViewerId(vid) ?? 'forged';
}
