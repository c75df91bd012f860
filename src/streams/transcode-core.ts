// The stream core's worker side: the narrow interface the transcode worker moves a live stream
// through (the ingest has IngestCore in service.ts). The worker decides *when* (every rendition
// has a segment, the ingest is gone, ffmpeg gave up, the reconnect grace ran out with nobody
// back — streams/transitions.ts says what a stop means); the core writes the transition and
// announces it, once, on the `stream.status` topic — the same way for both sides
// (announceStatus). Nothing outside streams/ writes a stream's status.
import type pg from 'pg';
import type { Log } from '../log.js';
import type { Bus } from '../redis/bus.js';
import * as reconnects from './reconnect-repo.js';
import * as repo from './repo.js';
import type { PublishFeed, Rendition, StreamStatus, TranscodeProgress } from './types.js';

/** A publisher not seen by its ingest for this long no longer holds its stream (the worker's watch counts it its own way). */
export { PUBLISHER_STALE_SECONDS } from './repo.js';

/** Which broadcast a transition is about. */
export interface Broadcast {
  streamId: string;
  publishSessionId: string;
}

export interface TranscodeCore {
  /** Streams that say a broadcast is on (`starting`/`live`) but whose publish was not touched for quietSeconds: what the broken-lives sweep watches. */
  quietBroadcasts(quietSeconds: number): Promise<(Broadcast & { playbackId: string })[]>;
  /** The publish session's heartbeat as the database holds it (the worker's publisher watch judges it), its connection and reconnect grace; null when unknown. */
  publishState(publishSessionId: string): Promise<repo.PublishState | null>;
  /** What to pull for the publish's current connection (written when its source is known); null before. */
  feed(publishSessionId: string): Promise<PublishFeed | null>;
  /** Publishes whose reconnect grace ran out over `lateSeconds` ago with nobody ending them (their worker died): the sweep ends them. */
  overdueReconnects(lateSeconds: number): Promise<(Broadcast & { playbackId: string })[]>;
  /** True while no newer publish of the stream has started (its playlists are still this one's). */
  isCurrent(b: Broadcast): Promise<boolean>;
  /** A worker starts ffmpeg for the publish; answers how many starts came before (a resume when > 0). */
  transcodeStarting(publishSessionId: string, workerId: string): Promise<number>;
  progress(publishSessionId: string, progress: TranscodeProgress): Promise<void>;
  /** A line of the publish log the broadcaster reads (never throws). */
  note(publishSessionId: string, level: 'info' | 'warn' | 'error', message: string): Promise<void>;
  /** starting | reconnecting → live (every rendition has a segment of the run). False when nothing changed, or the publish is no longer the stream's current one. */
  live(b: Broadcast, renditions: Rendition[]): Promise<boolean>;
  /** The ingest holding the publisher is gone: the publish ends (`ingest_lost`), the stream goes offline. */
  ingestLost(b: Broadcast): Promise<void>;
  /** The publisher did not come back within its grace: the publish ends (`reconnect_timeout`), the stream goes offline. False when it was not due (back, or ended). */
  reconnectExpired(b: Broadcast): Promise<boolean>;
  /** Transcoding gave up (never throws): the stream is `failed` with the reason. */
  failed(b: Broadcast, reason: string): Promise<void>;
}

/** Says a transition happened, to whoever listens (at most once per transition: callers announce only what they wrote). */
export async function announceStatus(bus: Bus, b: Broadcast, status: StreamStatus): Promise<void> {
  await bus.publish('stream.status', { streamId: b.streamId, status, publishSessionId: b.publishSessionId }).catch(() => undefined);
}

export function createTranscodeCore(deps: { db: pg.Pool; bus: Bus; log: Log }): TranscodeCore {
  const { db, bus } = deps;
  return {
    quietBroadcasts: (quietSeconds) => repo.quietBroadcasts(db, quietSeconds),
    publishState: (id) => repo.publishSessionState(db, id),
    feed: (id) => reconnects.feedOf(db, id),
    overdueReconnects: (lateSeconds) => reconnects.overdueReconnects(db, lateSeconds),
    isCurrent: (b) => repo.isCurrentPublishSession(db, b.streamId, b.publishSessionId),
    transcodeStarting: (id, workerId) => repo.recordTranscodeStart(db, id, workerId),
    progress: (id, p) => repo.recordProgress(db, id, p),
    note: (publishSessionId, level, message) => repo.appendSessionLog(db, { publishSessionId, level, message }).catch(() => undefined),
    async live(b, renditions) {
      const marked = await repo.markLive(db, b.publishSessionId, renditions);
      if (marked) await announceStatus(bus, b, 'live');
      return marked;
    },
    async ingestLost(b) {
      if (await repo.endPublishSession(db, { publishSessionId: b.publishSessionId, reason: 'ingest_lost' })) await announceStatus(bus, b, 'offline');
    },
    async reconnectExpired(b) {
      const ended = await reconnects.expireReconnect(db, b.publishSessionId);
      if (ended) {
        await repo.appendSessionLog(db, { publishSessionId: b.publishSessionId, level: 'warn', message: 'The publisher did not come back within the reconnect grace; the broadcast ended.' }).catch(() => undefined);
        await announceStatus(bus, b, 'offline');
      }
      return ended;
    },
    async failed(b, reason) {
      const marked = await repo.markFailed(db, b.publishSessionId, reason).catch(() => false);
      if (marked) await announceStatus(bus, b, 'failed');
    },
  };
}
