// Raw SQL for relay destinations (migration 009): one function per statement, db first so
// transactions compose. The key columns leave this file only as a SealedKey for crypto.ts.
import type { Db } from '../db/pool.js';
import type { SealedKey } from './crypto.js';

export const RELAY_STATUSES = ['idle', 'connecting', 'live', 'retrying', 'failed'] as const;
export type RelayStatus = (typeof RELAY_STATUSES)[number];

export interface Destination {
  id: string;
  streamId: string;
  name: string;
  url: string;
  enabled: boolean;
  keyHint: string;
  status: RelayStatus;
  bytesSent: number;
  bitrateKbps: number | null;
  connectedAt: Date | null;
  retries: number;
  lastError: string | null;
  createdAt: Date;
}

/**
 * A running relay writes its row at least every 5 s; a row left `connecting`, `live` or
 * `retrying` for longer than this was written by a worker that died with nobody taking over
 * (the stream ended meanwhile): it reads as `idle`.
 */
export const STALE_STATUS_SECONDS = 30;
const RUNNING = `status IN ('connecting', 'live', 'retrying')`;
const STALE = `(${RUNNING} AND status_updated_at < now() - interval '${STALE_STATUS_SECONDS} seconds')`;
const COLUMNS = `id, stream_id AS "streamId", name, url, enabled, key_hint AS "keyHint",
  CASE WHEN ${STALE} THEN 'idle' ELSE status END AS status,
  bytes_sent::float8 AS "bytesSent", CASE WHEN ${STALE} THEN 0 ELSE bitrate_kbps END AS "bitrateKbps",
  CASE WHEN ${STALE} THEN NULL ELSE connected_at END AS "connectedAt", retries,
  last_error AS "lastError", created_at AS "createdAt"`;

/** Locks the stream's row (so two adds cannot both pass the limit); false when there is no such stream. */
export async function lockStream(db: Db, streamId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM streams WHERE id = $1 FOR UPDATE`, [streamId]);
  return rowCount === 1;
}

export async function streamExists(db: Db, streamId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM streams WHERE id = $1`, [streamId]);
  return rowCount === 1;
}

export async function countDestinations(db: Db, streamId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM stream_destinations WHERE stream_id = $1`, [streamId]);
  return rows[0]!.n;
}

export async function insertDestination(db: Db, d: { id: string; streamId: string; name: string; url: string; sealed: SealedKey; keyHint: string; enabled: boolean }): Promise<Destination> {
  const { rows } = await db.query<Destination>(
    `INSERT INTO stream_destinations (id, stream_id, name, url, key_ciphertext, key_nonce, key_id, key_hint, enabled)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
    [d.id, d.streamId, d.name, d.url, d.sealed.ciphertext, d.sealed.nonce, d.sealed.keyId, d.keyHint, d.enabled],
  );
  return rows[0]!;
}

/** A page of a stream's destinations, oldest first. */
export async function listDestinations(db: Db, o: { streamId: string; limit: number; after?: { createdAt: Date; id: string } }): Promise<Destination[]> {
  const { rows } = await db.query<Destination>(
    `SELECT ${COLUMNS} FROM stream_destinations
      WHERE stream_id = $1 AND ($2::timestamptz IS NULL OR (date_trunc('milliseconds', created_at), id) > ($2, $3::uuid))
      ORDER BY date_trunc('milliseconds', created_at), id LIMIT $4`, // cursors carry milliseconds
    [o.streamId, o.after?.createdAt ?? null, o.after?.id ?? null, o.limit],
  );
  return rows;
}

export async function getDestination(db: Db, o: { streamId: string; id: string }): Promise<Destination | null> {
  const { rows } = await db.query<Destination>(`SELECT ${COLUMNS} FROM stream_destinations WHERE id = $1 AND stream_id = $2`, [o.id, o.streamId]);
  return rows[0] ?? null;
}

/** The destination wherever it is (status frames name only its id). */
export async function destinationById(db: Db, id: string): Promise<Destination | null> {
  const { rows } = await db.query<Destination>(`SELECT ${COLUMNS} FROM stream_destinations WHERE id = $1`, [id]);
  return rows[0] ?? null;
}

export interface DestinationPatch {
  name?: string;
  url?: string;
  enabled?: boolean;
  sealed?: SealedKey;
  keyHint?: string;
}

/** Sets the fields given (null: no such destination on that stream). */
export async function updateDestination(db: Db, o: { streamId: string; id: string; patch: DestinationPatch }): Promise<Destination | null> {
  const p = o.patch;
  const { rows } = await db.query<Destination>(
    `UPDATE stream_destinations SET
        name = COALESCE($3, name),
        url = COALESCE($4, url),
        enabled = COALESCE($5, enabled),
        key_ciphertext = COALESCE($6, key_ciphertext),
        key_nonce = COALESCE($7, key_nonce),
        key_id = COALESCE($8, key_id),
        key_hint = COALESCE($9, key_hint),
        updated_at = now()
      WHERE id = $1 AND stream_id = $2 RETURNING ${COLUMNS}`,
    [o.id, o.streamId, p.name ?? null, p.url ?? null, p.enabled ?? null, p.sealed?.ciphertext ?? null, p.sealed?.nonce ?? null, p.sealed?.keyId ?? null, p.keyHint ?? null],
  );
  return rows[0] ?? null;
}

export async function deleteDestination(db: Db, o: { streamId: string; id: string }): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM stream_destinations WHERE id = $1 AND stream_id = $2`, [o.id, o.streamId]);
  return rowCount === 1;
}

export interface SealedRow {
  id: string;
  name: string;
  url: string;
  sealed: SealedKey;
}

const SEALED = `id, name, url, key_ciphertext AS ciphertext, key_nonce AS nonce, key_id AS "keyId"`;
type SealedDbRow = { id: string; name: string; url: string; ciphertext: Buffer; nonce: Buffer; keyId: string };
const sealedRow = (r: SealedDbRow): SealedRow => ({ id: r.id, name: r.name, url: r.url, sealed: { ciphertext: r.ciphertext, nonce: r.nonce, keyId: r.keyId } });

/** The enabled destinations of a stream with their sealed keys (for the relay). */
export async function enabledSealed(db: Db, streamId: string): Promise<SealedRow[]> {
  const { rows } = await db.query<SealedDbRow>(`SELECT ${SEALED} FROM stream_destinations WHERE stream_id = $1 AND enabled ORDER BY created_at, id`, [streamId]);
  return rows.map(sealedRow);
}

/** Rows whose key was sealed under another key than `keyId` (key rotation), a batch at a time. */
export async function sealedUnderOtherKeys(db: Db, o: { keyId: string; limit: number }): Promise<SealedRow[]> {
  const { rows } = await db.query<SealedDbRow>(`SELECT ${SEALED} FROM stream_destinations WHERE key_id <> $1 ORDER BY id LIMIT $2`, [o.keyId, o.limit]);
  return rows.map(sealedRow);
}

/** Replaces a row's sealed key only if it is still the one read (a concurrent change wins). */
export async function resealKey(db: Db, o: { id: string; from: SealedKey; to: SealedKey }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE stream_destinations SET key_ciphertext = $2, key_nonce = $3, key_id = $4
      WHERE id = $1 AND key_id = $5 AND key_nonce = $6`,
    [o.id, o.to.ciphertext, o.to.nonce, o.to.keyId, o.from.keyId, o.from.nonce],
  );
  return rowCount === 1;
}

/** What the relay reports of one destination: its status columns. */
export type RelayStatusWrite = Pick<Destination, 'id' | 'status' | 'bytesSent' | 'bitrateKbps' | 'connectedAt' | 'retries' | 'lastError'>;

/** The relay's report of one destination; returns its stream (null: the destination is gone). */
export async function writeRelayStatus(db: Db, s: RelayStatusWrite): Promise<string | null> {
  const { rows } = await db.query<{ streamId: string }>(
    `UPDATE stream_destinations SET status = $2, bytes_sent = $3, bitrate_kbps = $4, connected_at = $5, retries = $6,
        last_error = $7, status_updated_at = now()
      WHERE id = $1 RETURNING stream_id AS "streamId"`,
    [s.id, s.status, Math.round(s.bytesSent), s.bitrateKbps, s.connectedAt, s.retries, s.lastError],
  );
  return rows[0]?.streamId ?? null;
}

/** What /metrics shows of one destination (its stream's id and its status columns). */
export type DestinationSample = Pick<Destination, 'id' | 'streamId' | 'status' | 'enabled' | 'bytesSent' | 'bitrateKbps' | 'retries'>;

/**
 * Every destination's status, for /metrics at scrape time (a stale running status reads idle,
 * as in the API). Bounded: at most RELAY_MAX_DESTINATIONS per stream; a deleted destination (or
 * stream) is simply not here.
 */
export async function destinationSamples(db: Db): Promise<DestinationSample[]> {
  const { rows } = await db.query<DestinationSample>(
    `SELECT id, stream_id AS "streamId", CASE WHEN ${STALE} THEN 'idle' ELSE status END AS status, enabled,
        bytes_sent::float8 AS "bytesSent", CASE WHEN ${STALE} THEN 0 ELSE bitrate_kbps END AS "bitrateKbps", retries
       FROM stream_destinations ORDER BY stream_id, id`,
  );
  return rows;
}
