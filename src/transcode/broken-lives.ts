// Broken lives (PeerTube's term): a stream that says `starting`/`live` while nobody publishes it
// any more — the whole box lost power, the ingest and its job's worker died together, Redis lost
// the job. No job watches such a stream, so without this it would say `live` for good and its
// playlists would never end. Every worker sweeps: it watches each open broadcast's publish with
// the same rule a job uses (publisher-watch.ts: missed touches counted on this worker's clock,
// never one stale timestamp, so a database outage ends nothing) — only those whose publish has
// missed two touches, so healthy streams cost nothing — and a broadcast whose ingest is
// gone is ended the way a job ends it: playlists finished, its thumbnail removed, the publish
// `ingest_lost`, the stream `offline`. A broadcast a running job also watches may be ended by
// either; both steps are idempotent. A publish whose publisher is away (reconnect grace) is
// nobody's to touch: its job ends it when the grace runs out; one whose grace ran out
// OVERDUE_SECONDS ago (its job's worker died meanwhile) is ended here the same way.
import type { Log } from '../log.js';
import type { TranscodeCore } from '../streams/transcode-core.js';
import { thumbnailFile } from '../thumbnails.js';
import { finishPlaylists, streamOutputDir } from './hls-output.js';
import { TOUCH_PERIOD_MS, watchPublisher, type PublisherWatch } from './publisher-watch.js';
import { removeThumbnail } from './thumbnail-writer.js';
import { every } from '../every.js';

export const SWEEP_EVERY_MS = 5_000;
/** A publish not touched for this long (two touch periods) is watched; one that is touched again drops out. */
const QUIET_SECONDS = (2 * TOUCH_PERIOD_MS) / 1000;
/** A reconnect grace over for this long with the publish still open: its job is not there to end it. */
const OVERDUE_SECONDS = 5;

export interface BrokenLivesSweep {
  /** One pass (the timer runs these; tests may too). */
  sweep(): Promise<void>;
  stop(): Promise<void>;
}

export function startBrokenLivesSweep(o: { core: TranscodeCore; mediaDir: string; log: Log; everyMs?: number }): BrokenLivesSweep {
  const watches = new Map<string, PublisherWatch>(); // by publish session

  async function sweep(): Promise<void> {
    let open;
    let overdue;
    try {
      open = await o.core.quietBroadcasts(QUIET_SECONDS);
      overdue = await o.core.overdueReconnects(OVERDUE_SECONDS);
    } catch {
      return; // the database does not answer: nothing can be judged now
    }
    for (const b of overdue) {
      try {
        if (!(await o.core.reconnectExpired(b))) continue;
        await finishPlaylists(streamOutputDir(o.mediaDir, b.playbackId));
        await removeThumbnail(thumbnailFile(o.mediaDir, b.playbackId));
        o.log.warn({ streamId: b.streamId, publishSessionId: b.publishSessionId }, 'Ended a broadcast whose reconnect grace ran out with no job to end it.');
      } catch (err) {
        o.log.warn({ err: (err as Error).message, streamId: b.streamId }, 'Could not end an overdue reconnect now; the next sweep tries again.');
      }
    }
    const current = new Set(open.map((b) => b.publishSessionId));
    for (const id of watches.keys()) if (!current.has(id)) watches.delete(id);
    for (const b of open) {
      let watch = watches.get(b.publishSessionId);
      if (!watch) watches.set(b.publishSessionId, (watch = watchPublisher({ read: () => o.core.publishState(b.publishSessionId) })));
      const verdict = await watch.check();
      if (verdict !== 'gone' && verdict !== 'ended') continue;
      try {
        if (await o.core.isCurrent(b)) {
          await finishPlaylists(streamOutputDir(o.mediaDir, b.playbackId));
          await removeThumbnail(thumbnailFile(o.mediaDir, b.playbackId)); // what the thumbnail output does at an end
        }
        await o.core.ingestLost(b);
        await o.core.note(b.publishSessionId, 'warn', 'Nobody published this stream any more (its ingest stopped answering); the broadcast was ended.');
        o.log.warn({ streamId: b.streamId, publishSessionId: b.publishSessionId }, 'Ended a broadcast whose ingest is gone (a broken live).');
        watches.delete(b.publishSessionId);
      } catch (err) {
        o.log.warn({ err: (err as Error).message, streamId: b.streamId }, 'Could not end a broken live now; the next sweep tries again.');
      }
    }
  }

  // one pass at a time; a database that does not answer: the next pass tries again
  const task = every(o.everyMs ?? SWEEP_EVERY_MS, sweep);
  return { sweep, stop: () => task.stop() };
}
