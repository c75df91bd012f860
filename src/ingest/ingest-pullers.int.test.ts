// An internal puller that stops reading, against a real ingest: node-media-server would queue
// the stream for it in the ingest's memory without end; the ingest drops it instead, and the
// publisher, the worker's own puller and the live stream do not notice.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { freePort } from '../local/processes.js';
import { getText, publishTestPattern, waitFor } from '../testing/harness.js';
import { connectRaw, streamCommands } from '../testing/rtmp-client.js';
import { startStack } from '../testing/stack.js';
import { pullSignature } from '../streams/keys.js';
import { MAX_PULLER_QUEUE_BYTES } from './puller-queue.js';

const [ingestMetricsPort, workerMetricsPort] = [await freePort(), await freePort()];
// extraEnv reaches every role (the api ignores METRICS_PORT); the worker gets a port of its own
const stack = await startStack(t, { workers: 1, extraEnv: { METRICS_PORT: String(ingestMetricsPort) }, workerEnv: { METRICS_PORT: String(workerMetricsPort) } });
const ingest = stack.roles.find((r) => r.name === 'ingest')!;
const internalKey = stack.env.INTERNAL_API_KEY!;

/** The ingest process's resident memory, in bytes. */
function ingestRss(): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${ingest.child.pid}/status`, 'utf8'));
  if (!kb) throw new Error('no VmRSS for the ingest');
  return Number(kb[1]) * 1024;
}

async function droppedPullers(): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${ingestMetricsPort}/metrics`, { headers: { authorization: `Bearer ${internalKey}` } });
  const line = (await r.text()).split('\n').find((l) => l.startsWith('onair_ingest_pullers_dropped_total'));
  return Number(line?.split(/\s+/).pop() ?? NaN);
}

const lastSegment = async (url: string) => (await getText(url)).text.split('\n').filter((l) => l.endsWith('.ts')).pop();

t.test('a signed internal puller that stops reading is dropped; the publisher and the stream go on', async (t) => {
  const s = await stack.createStream('stalled-puller');
  // ~5 Mbit/s (what testsrc2 at 640x360/30 gives under an 8 Mbit/s cap): the queue fills in seconds
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 30, seconds: 120, videoKbps: 8000 });
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the publish to go live', timeoutMs: 40_000 });
  const playlist = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  await stack.waitForMaster(s.playbackId);
  t.equal(await droppedPullers(), 0, 'no puller dropped yet');
  const publishSessionId: string = (await stack.db.query('SELECT id FROM publish_sessions WHERE stream_id = $1 AND ended_at IS NULL', [s.id])).rows[0].id;

  // a puller exactly as the worker's ffmpeg makes one (live-job.ts), then it stops reading
  const rssBefore = ingestRss();
  const c = await connectRaw(stack.rtmpPort);
  await c.handshake();
  const name = `${publishSessionId}?sig=${pullSignature(internalKey, publishSessionId)}`;
  c.send(streamCommands({ app: 'internal', commands: [{ kind: 'play', name }] }));
  await waitFor(() => c.received() > 100_000, { what: 'the puller to receive media', timeoutMs: 10_000 });
  c.socket.pause();
  const pausedAt = Date.now();

  // a paused socket does not see the close (the kernel still holds data for it): the ingest's
  // counter tells when it dropped the puller; reading again then drains to the end of the stream
  let rssMax = rssBefore;
  await waitFor(
    async () => {
      rssMax = Math.max(rssMax, ingestRss());
      return (await droppedPullers()) >= 1;
    },
    { what: 'the stalled puller to be dropped', timeoutMs: 50_000, intervalMs: 250 },
  );
  t.pass(`dropped ${Date.now() - pausedAt} ms after it stopped reading`);
  // the queue is bounded (8 MiB + one message); the rest is room for garbage the GC has not taken yet
  const grown = rssMax - rssBefore;
  t.ok(grown < MAX_PULLER_QUEUE_BYTES + 64 * 1024 * 1024, `the ingest's memory grew by ${(grown / 1024 / 1024).toFixed(1)} MiB at most`);
  c.socket.resume();
  const closed = await Promise.race([c.closed, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
  t.ok(closed, 'the puller’s connection is closed');
  await waitFor(() => /Dropped an internal puller that stopped reading/.test(ingest.output()), { what: 'the drop logged', timeoutMs: 5_000 });
  t.notOk(ingest.output().includes(`sig=`), 'no pull signature in the ingest log');

  // the publisher and the worker's own puller did not notice
  t.equal(pub.child.exitCode, null, 'the publisher is still publishing');
  t.equal(ingest.child.exitCode, null, 'the ingest is still running');
  t.equal(await stack.streamStatus(s.id), 'live', 'the stream is still live');
  const open = await stack.db.query('SELECT count(*)::int AS n FROM publish_sessions WHERE id = $1 AND ended_at IS NULL', [publishSessionId]);
  t.equal(open.rows[0].n, 1, 'the same publish session goes on');
  const before = await lastSegment(playlist);
  await waitFor(async () => (await lastSegment(playlist)) !== before, { what: 'new segments after the drop', timeoutMs: 15_000 });
  await pub.stop();
});
