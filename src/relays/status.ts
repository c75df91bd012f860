// The relay's side of a destination's status: it writes the row and says so on the bus
// (`relay.status`); the API nodes read the row when they deliver `relay:status` (realtime/relay-status.ts).
import type { Db } from '../db/pool.js';
import type { Log } from '../log.js';
import type { Bus } from '../redis/bus.js';
import { redactText } from '../log.js';
import { writeRelayStatus, type RelayStatusWrite } from './repo.js';

/**
 * Records a destination's status and announces it (`announce: false` for a write of the counters
 * alone: the rooms hear of changes, not of every byte); the last error is redacted and cut (it
 * may quote a URL).
 */
export async function recordRelayStatus(o: { db: Db; bus: Bus; log: Log }, s: RelayStatusWrite, announce = true): Promise<void> {
  const lastError = s.lastError === null ? null : redactText(s.lastError).slice(0, 500);
  const streamId = await writeRelayStatus(o.db, { ...s, lastError });
  if (!streamId || !announce) return; // deleted meanwhile, or nothing to tell
  await o.bus.publish('relay.status', { streamId, destinationId: s.id }).catch((err: unknown) =>
    o.log.warn({ streamId, destinationId: s.id, err: (err as Error).message }, 'Could not announce a relay status on the bus.'),
  );
}
