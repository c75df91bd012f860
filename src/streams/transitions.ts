// What a stop, an exit or a timeout means for a live stream: the pure decisions behind the stream
// core's transitions (offline → starting → live → reconnecting → live | offline | failed). The
// core (service.ts for the ingest, transcode-core.ts for the worker) and the worker's job act on
// these answers; nothing here reads a clock, a database or a socket.
import type { StreamStatus } from './types.js';

/**
 * End reasons after which the encoder is expected back: its connection broke or went silent (OBS,
 * vMix and ffmpeg-based encoders reconnect by themselves). Every other reason is an order (key
 * regenerated, disabled, stopped, deleted), a refusal (unsupported codec) or our own ingest
 * stopping (`ingest_shutdown`: the appliance going down finishes its playlists on the way, as an
 * operator stopping it expects): the publish ends at once.
 */
export const RECONNECTABLE_REASONS: ReadonlySet<string> = new Set(['publisher_left', 'publisher_silent']);

export interface PublisherGone {
  /** Why the ingest lost the connection (publisher_left, publisher_silent, stopped, …). */
  reason: string;
  /** Which connection of the publish it was (PublishGrant.connection). */
  connection: number;
  /** RECONNECT_GRACE_SECONDS; 0 turns the grace off. */
  graceSeconds: number;
  /** The publish as the database holds it now; null when there is no such publish. */
  publish: { ended: boolean; connection: number; streamStatus: StreamStatus | null } | null;
}

/**
 * - `ignore`: the publish already ended, or a newer connection continues it (a takeover, or a
 *   reconnect that arrived before this connection's close was noticed): nothing to write.
 * - `reconnect`: the stream goes `reconnecting` and waits out the grace for the publisher.
 * - `end`: the publish ends now (`offline`, ENDLIST).
 * Only a broadcast viewers are watching (live, or already reconnecting after a takeover) gets
 * the grace: before its first segments nobody waits for it, and a failed one has nothing to continue.
 */
export function publisherGone(g: PublisherGone): 'ignore' | 'reconnect' | 'end' {
  if (!g.publish || g.publish.ended || g.publish.connection !== g.connection) return 'ignore';
  const watched = g.publish.streamStatus === 'live' || g.publish.streamStatus === 'reconnecting';
  return g.graceSeconds > 0 && watched && RECONNECTABLE_REASONS.has(g.reason) ? 'reconnect' : 'end';
}

/** A publish as the worker reads it (TranscodeCore.publishState). */
export interface PublishReading {
  ended: boolean;
  /** The connection holding the publish now. */
  connection: number;
  /** ms until the reconnect grace runs out (database clock); null while a publisher is connected. */
  reconnectLeftMs: number | null;
}

/**
 * What the worker does after its ffmpeg stopped, given why it stopped (`stop`: null when ffmpeg
 * exited on its own) and how the publish looks now (`publish`: null when the database did not
 * answer; `gone`: the publisher's ingest stopped touching it):
 * - `hand-back`: another worker holds the stream's lease; step aside.
 * - `hand-over`: this worker shuts down; another continues the same playlists.
 * - `finish`: the publish ended: ENDLIST, outputs told it ended.
 * - `wait-for-publisher`: the publisher is away within its grace: no ENDLIST; wait (see whileAway).
 * - `resume`: a newer connection already continues the publish: start ffmpeg again on it.
 * - `restart`: ffmpeg failed while its publisher is there: restart (bounded by the caller).
 */
export function afterRun(o: {
  stop: 'cancelled' | 'publisher-gone' | 'lease-lost' | 'shutdown' | 'reconnecting' | null;
  publish: PublishReading | 'gone' | null;
  /** The connection this run pulled. */
  connection: number;
}): 'hand-back' | 'hand-over' | 'finish' | 'wait-for-publisher' | 'resume' | 'restart' {
  if (o.stop === 'lease-lost') return 'hand-back';
  if (o.stop === 'cancelled' || o.stop === 'publisher-gone' || o.publish === 'gone') return 'finish';
  if (o.publish?.ended) return 'finish';
  if (o.stop === 'shutdown') return 'hand-over';
  if (o.publish === null) return 'restart'; // the database does not answer: keep transcoding what comes
  if (o.publish.reconnectLeftMs !== null) return 'wait-for-publisher';
  if (o.publish.connection !== o.connection) return 'resume';
  return 'restart';
}

/**
 * While the publisher is away, each look at the publish decides: it came back (`resume`: a
 * connection holds it again), it ended (`finish`), the grace ran out (`expire`: the worker ends it),
 * or wait on. A database that does not answer (null) is waited out.
 */
export function whileAway(publish: PublishReading | null): 'resume' | 'finish' | 'expire' | 'wait' {
  if (publish === null) return 'wait';
  if (publish.ended) return 'finish';
  // a connection holds the publish again (a newer one: the publisher is back)
  if (publish.reconnectLeftMs === null) return 'resume';
  return publish.reconnectLeftMs <= 0 ? 'expire' : 'wait';
}
