// A live job whose publisher's connection broke: waiting for it to come back within the reconnect
// grace (streams/transitions.ts whileAway decides each look), and what to pull once it is back
// (the publish's feed for its new connection: maybe another ingest, maybe another resolution).
import type { Log } from '../log.js';
import type { TranscodeCore } from '../streams/transcode-core.js';
import { whileAway, type PublishReading } from '../streams/transitions.js';
import type { LiveTranscodeJob, PublishFeed } from '../streams/types.js';
import { checkLiveJob } from './job-check.js';

/** How often a job whose publisher is away looks whether it came back. */
const AWAY_POLL_MS = 250;
/** How long a continued connection may take to describe its source (the ingest waits up to 5 s for it). */
const FEED_WAIT_MS = 10_000;

/**
 * The publisher is away: look every AWAY_POLL_MS until it is back (its new connection), the
 * publish ended (an operator), the grace ran out, or this job must stop (shutdown, lease lost).
 */
export async function waitForPublisher(o: {
  readPublish: () => Promise<PublishReading | null>;
  signal: AbortSignal;
  leaseLost: AbortSignal;
}): Promise<{ how: 'resume'; connection: number } | { how: 'finish' | 'expire' | 'shutdown' | 'lease-lost' }> {
  for (;;) {
    if (o.leaseLost.aborted) return { how: 'lease-lost' };
    if (o.signal.aborted) return { how: o.signal.reason === 'shutdown' ? 'shutdown' : 'finish' };
    const publish = await o.readPublish();
    const w = whileAway(publish);
    if (w === 'resume') return { how: 'resume', connection: publish!.connection };
    if (w !== 'wait') return { how: w };
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        o.signal.removeEventListener('abort', done);
        o.leaseLost.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, AWAY_POLL_MS);
      o.signal.addEventListener('abort', done, { once: true });
      o.leaseLost.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * What to pull for the publish's connection `connection` (or a later one): its feed once the
 * ingest wrote it, checked like a job's payload (a feed names a pull host and a source the same
 * way). The job's own payload stands in for the first connection, and when no feed comes.
 */
export async function currentFeed(o: { core: TranscodeCore; job: LiveTranscodeJob; connection: number; pullHosts: readonly string[]; log: Log }): Promise<PublishFeed> {
  const fallback: PublishFeed = { connection: 1, pullUrl: o.job.pullUrl, source: o.job.source };
  const deadline = Date.now() + FEED_WAIT_MS;
  for (;;) {
    const feed = await o.core.feed(o.job.publishSessionId).catch(() => null);
    if (feed && feed.connection >= o.connection) {
      const checked = checkLiveJob({ ...o.job, pullUrl: feed.pullUrl, source: feed.source }, { pullHosts: o.pullHosts });
      if (checked.ok) return { connection: feed.connection, pullUrl: checked.job.pullUrl, source: checked.job.source };
      o.log.error(`Refused a publish's feed: ${checked.problem}; pulling what the job names.`);
      return fallback;
    }
    if (o.connection <= 1 || Date.now() > deadline) return feed ?? fallback;
    await new Promise((r) => setTimeout(r, AWAY_POLL_MS));
  }
}
