// Relay destinations of a stream: the organisers' side (add, change, remove, list) and the
// relay's (destinationsForRelay decrypts the enabled ones, in memory only). Every change is
// announced on the bus (`stream.destinations-changed`) so a running relay reacts within seconds;
// Postgres stays the record. Stream keys are never logged, returned or put in an error.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { RelaySettings } from '../config.js';
import { withTransaction } from '../db/pool.js';
import { AppError, notFound } from '../errors.js';
import type { Log } from '../log.js';
import type { Bus } from '../redis/bus.js';
import { keyHint, openKey, RelayKeyError, sealKey } from './crypto.js';
import * as repo from './repo.js';
import { checkDestinationUrl, parseDestinationUrl, type Lookup } from './url-check.js';

export interface NewDestination {
  name: string;
  url: string;
  streamKey: string;
  enabled?: boolean;
}
export type DestinationChange = Partial<NewDestination>;

/** What the relay gets: the decrypted key is in memory only (null when it can not be decrypted, with the problem in words). */
export interface RelayDestination {
  id: string;
  name: string;
  url: string;
  key: string | null;
  problem?: string;
}

export interface DestinationsService {
  list(streamId: string, page: { limit: number; after?: { createdAt: Date; id: string } }): Promise<repo.Destination[]>;
  create(streamId: string, d: NewDestination): Promise<repo.Destination>;
  update(streamId: string, id: string, change: DestinationChange): Promise<repo.Destination>;
  remove(streamId: string, id: string): Promise<void>;
  /** The stream's enabled destinations with their keys; one that cannot be decrypted comes with `key: null` and the problem (logged, without its key). */
  destinationsForRelay(streamId: string): Promise<RelayDestination[]>;
  /** Re-encrypts every key sealed under another key than RELAY_KEYS' first (rotation); returns how many. */
  reencrypt(): Promise<number>;
}

export function createDestinationsService(o: { db: pg.Pool; bus: Bus; log: Log; relay: RelaySettings; lookup?: Lookup }): DestinationsService {
  const { db, bus, relay } = o;
  const log = o.log.child({ component: 'relays' });

  const announce = (streamId: string) =>
    bus.publish('stream.destinations-changed', { streamId }).catch((err: unknown) =>
      // the relay also re-reads its destinations on its own schedule: a lost message delays, never loses, the change
      log.warn({ streamId, err: (err as Error).message }, 'Could not announce a change of destinations on the bus.'),
    );
  const check = (url: string, streamKey?: string) => checkDestinationUrl(url, { streamKey, allowPrivate: relay.allowPrivate, lookup: o.lookup });

  return {
    async list(streamId, page) {
      if (!(await repo.streamExists(db, streamId))) throw notFound('The stream');
      return repo.listDestinations(db, { streamId, ...page });
    },

    async create(streamId, d) {
      const { url } = await check(d.url, d.streamKey);
      const id = randomUUID();
      const sealed = sealKey({ keys: relay.keys, destinationId: id, plaintext: d.streamKey });
      const created = await withTransaction(db, async (tx) => {
        if (!(await repo.lockStream(tx, streamId))) throw notFound('The stream');
        const count = await repo.countDestinations(tx, streamId);
        if (count >= relay.maxDestinations) {
          throw new AppError(409, 'too_many_destinations', `A stream has at most ${relay.maxDestinations} destinations (RELAY_MAX_DESTINATIONS); remove one first.`);
        }
        return repo.insertDestination(tx, { id, streamId, name: d.name, url, sealed, keyHint: keyHint(d.streamKey), enabled: d.enabled ?? true });
      });
      log.info({ streamId, destinationId: id, url }, 'Added a relay destination.');
      await announce(streamId);
      return created;
    },

    async update(streamId, id, change) {
      const current = await repo.getDestination(db, { streamId, id });
      if (!current) throw notFound('The destination');
      const patch: repo.DestinationPatch = { name: change.name, enabled: change.enabled };
      if (change.url !== undefined) patch.url = (await check(change.url, change.streamKey)).url;
      else if (change.streamKey !== undefined) parseDestinationUrl(current.url, change.streamKey); // the new key must not be in the stored URL
      if (change.streamKey !== undefined) {
        patch.sealed = sealKey({ keys: relay.keys, destinationId: id, plaintext: change.streamKey });
        patch.keyHint = keyHint(change.streamKey);
      }
      const updated = await repo.updateDestination(db, { streamId, id, patch });
      if (!updated) throw notFound('The destination');
      log.info({ streamId, destinationId: id, fields: Object.keys(change).filter((k) => k !== 'streamKey').concat(change.streamKey !== undefined ? ['key'] : []) }, 'Changed a relay destination.');
      await announce(streamId);
      return updated;
    },

    async remove(streamId, id) {
      if (!(await repo.deleteDestination(db, { streamId, id }))) throw notFound('The destination');
      log.info({ streamId, destinationId: id }, 'Removed a relay destination.');
      await announce(streamId);
    },

    async destinationsForRelay(streamId) {
      const out: RelayDestination[] = [];
      for (const row of await repo.enabledSealed(db, streamId)) {
        try {
          out.push({ id: row.id, name: row.name, url: row.url, key: openKey({ keys: relay.keys, destinationId: row.id, sealed: row.sealed }) });
        } catch (err) {
          if (!(err instanceof RelayKeyError)) throw err;
          log.error({ streamId, destinationId: row.id, reason: err.reason }, `A relay destination is skipped: ${err.message}`);
          out.push({ id: row.id, name: row.name, url: row.url, key: null, problem: `its stream key can not be decrypted with the server's RELAY_KEYS (${err.reason}); set the stream key again` });
        }
      }
      return out;
    },

    async reencrypt() {
      const current = relay.keys[0];
      if (!current) return 0;
      let done = 0;
      const failed = new Set<string>();
      for (;;) {
        const rows = (await repo.sealedUnderOtherKeys(db, { keyId: current.id, limit: 100 + failed.size })).filter((r) => !failed.has(r.id));
        if (rows.length === 0) break;
        for (const row of rows) {
          try {
            const plaintext = openKey({ keys: relay.keys, destinationId: row.id, sealed: row.sealed });
            const to = sealKey({ keys: relay.keys, destinationId: row.id, plaintext });
            if (await repo.resealKey(db, { id: row.id, from: row.sealed, to })) done++;
          } catch (err) {
            if (!(err instanceof RelayKeyError)) throw err;
            failed.add(row.id);
            log.error({ destinationId: row.id, reason: err.reason }, `A relay destination's key could not be re-encrypted: ${err.message} Set its stream key again (PATCH).`);
          }
        }
      }
      if (done > 0 || failed.size > 0) log.info({ keyId: current.id, reencrypted: done, failed: failed.size }, `Re-encrypted ${done} relay destination key(s) under RELAY_KEYS id "${current.id}".`);
      return done;
    },
  };
}
