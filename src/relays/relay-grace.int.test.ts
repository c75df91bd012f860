// Relays and the reconnect grace, against a whole stack (api, ingest, worker, nginx, Postgres,
// Redis) and a real nginx-rtmp destination that reports every publish / publish_done with its
// time. Issue 12: relays "stop when the publisher leaves (after the reconnect grace)" — and ride
// through the grace: a publisher that drops and comes back within it continues the destination's
// one publish (the relay's connection is kept, the new ffmpeg run's FLV continues its timeline);
// one that does not come back ends it once the grace runs out. The two tests share one stream and
// one destination (the second drill is the end of the first publish), so the file pays one stack
// start, one go-live and one grace: ~70–90 s on this machine.
import { listDestinations, type DestinationView } from '../testing/relay-checks.js';
import t from 'tap';
import { publishTestPattern, randomId, waitFor, run } from '../testing/harness.js';
import { probeRecording, startRtmpDestination } from '../testing/rtmp-destination.js';
import { startStack } from '../testing/stack.js';

const GRACE = 12; // seconds: well over the drill's 4 s away, short enough for the suite
const stack = await startStack(t, { workers: 1, extraEnv: { RELAY_ALLOW_PRIVATE: 'true', RECONNECT_GRACE_SECONDS: String(GRACE) } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


const s = await stack.createStream('relay through the grace');
const key = `grace-key-${randomId(8)}`;
const dest = await startRtmpDestination(t, { recordEvents: true });
const made = await stack.api('POST', `/streams/${s.id}/destinations`, { name: 'Grace', url: `rtmp://127.0.0.1:${dest.port}/live`, streamKey: key, enabled: true }, stack.token);
if (made.status !== 201) throw new Error(`add destination → ${made.status} ${JSON.stringify(made.body)}`);
const destId = (made.body as DestinationView).id;

async function destination(): Promise<DestinationView> {
  const d = (await listDestinations((p) => stack.api('GET', p, undefined, stack.token), s.id)).get(destId);
  if (!d) throw new Error(`destination ${destId} is not listed`);
  return d;
}
const publish = () => publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 180, videoKbps: 500 });
const events = () => dest.events.map((e) => e.call);

/** Polls the stream's and the destination's status every 250 ms until stopped: what the API said meanwhile. */
function watchStatuses() {
  const seen: { stream: string; dest: string; connectedAt: string | null; retries: number; at: number }[] = [];
  let stopped = false;
  const sample = async () => {
    const [stream, d] = await Promise.all([stack.streamStatus(s.id), destination()]);
    seen.push({ stream, dest: d.status, connectedAt: d.connectedAt, retries: d.retries, at: Date.now() });
  };
  const loop = (async () => {
    while (!stopped) {
      await sample();
      await sleep(250);
    }
  })();
  return {
    seen,
    /** Stops, with one last sample (what holds now). */
    async stop() {
      stopped = true;
      await loop;
      await sample();
      return seen;
    },
  };
}
/** Consecutive duplicates folded: ['live', 'live', 'reconnecting'] → ['live', 'reconnecting']. */
const runs = (xs: string[]) => xs.filter((x, i) => i === 0 || xs[i - 1] !== x);

// set by the first test, used by the second (the end of the same publish)
const firstPart = { from: 0, to: 0 };
const secondPart = { from: 0, to: 0 };
let second: ReturnType<typeof publish> | null = null;

t.test('a publisher killed and back after 4 s: the stream goes reconnecting then live, and the destination keeps its one publish, live the whole time', async (t) => {
  const first = publish();
  await stack.waitForMaster(s.playbackId, 40_000);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the stream to be live', timeoutMs: 20_000 });
  const before = await waitFor(async () => {
    const d = await destination();
    return d.status === 'live' && d.bytesSent > 0 && d.connectedAt !== null ? d : null;
  }, { what: 'the destination live and counting', timeoutMs: 30_000 });
  t.same(events(), ['publish'], 'nginx-rtmp saw the relay publish');
  firstPart.from = dest.events[0]!.at;
  await sleep(10_000); // ~10 s of the first connection at the destination

  const watch = watchStatuses();
  await first.stop(); // SIGKILL: the encoder's connection breaks
  const droppedAt = Date.now();
  firstPart.to = droppedAt;
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'reconnecting', { what: 'reconnecting', timeoutMs: 8_000, intervalMs: 100 });
  await sleep(Math.max(0, 4_000 - (Date.now() - droppedAt)));
  second = publish(); // the encoder is back, 4 s after it dropped
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the stream live again', timeoutMs: 30_000, intervalMs: 100 });
  secondPart.from = Date.now();
  // the new run feeds the kept connection: its byte count moves on
  await waitFor(async () => (await destination()).bytesSent > before.bytesSent + 100_000, { what: 'the destination’s count to move on', timeoutMs: 20_000 });
  await sleep(10_000); // ~10 s of the second run at the destination
  const seen = await watch.stop();

  t.same(runs(seen.map((x) => x.stream)), ['live', 'reconnecting', 'live'], 'the stream: live, reconnecting, live again');
  // the relay's connection to the destination is never broken: the publisher object stays `live`
  // across the runs (only its source is swapped), so the row reads `live` throughout — the truth
  // seen here, not a tolerance: no `connecting`, `retrying` or `idle` in between
  t.same(runs(seen.map((x) => x.dest)), ['live'], `the destination live throughout (${seen.length} samples)`);
  t.same([...new Set(seen.map((x) => x.connectedAt))], [before.connectedAt], 'connected since the same moment: one connection');
  t.same([...new Set(seen.map((x) => x.retries))], [0], 'never retried');
  t.same(events(), ['publish'], 'nginx-rtmp: one publish the whole time, no publish_done, no second publish');
  t.equal(dest.publishNames.length, 1, 'asked once');
});

t.test('a publisher killed and not back: the destination stays connected through the grace, then the stream ends, the destination goes idle and its publish ends', async (t) => {
  if (!second) return t.fail('the first drill did not get its second publisher going');
  const watch = watchStatuses();
  await second.stop();
  const leftAt = Date.now();
  secondPart.to = leftAt;
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'reconnecting', { what: 'reconnecting', timeoutMs: 8_000, intervalMs: 100 });
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'offline', timeoutMs: (GRACE + 15) * 1000, intervalMs: 200 });
  const offlineAfter = Date.now() - leftAt;
  const idle = await waitFor(async () => {
    const d = await destination();
    return d.status === 'idle' ? d : null;
  }, { what: 'the destination idle', timeoutMs: 15_000, intervalMs: 200 });
  const done = await waitFor(() => dest.events.find((e) => e.call === 'publish_done'), { what: 'nginx-rtmp to see the publish end', timeoutMs: 10_000 });
  const seen = await watch.stop();

  t.ok(offlineAfter >= (GRACE - 1) * 1000, `the stream ended after the grace (${offlineAfter} ms)`);
  const doneAfter = done.at - leftAt;
  // margin: the ingest notices a SIGKILLed publisher within ~1 s; the grace runs from then
  t.ok(doneAfter >= (GRACE - 2) * 1000, `nginx-rtmp saw the publish end only after the grace (${doneAfter} ms after the publisher left)`);
  t.ok(doneAfter <= (GRACE + 15) * 1000, `and not long after it (${doneAfter} ms)`);
  const during = seen.filter((x) => x.at < leftAt + (GRACE - 2) * 1000).map((x) => x.dest);
  t.ok(during.length >= 20, `sampled through the grace (${during.length})`);
  t.same(runs(during), ['live'], 'the destination live through the grace');
  t.same(runs(seen.map((x) => x.dest)), ['live', 'idle'], 'then idle, and nothing else in between');
  t.same(runs(seen.map((x) => x.stream)), ['live', 'reconnecting', 'offline'], 'the stream: reconnecting, then offline');
  t.same(events(), ['publish', 'publish_done'], 'nginx-rtmp: the one publish, then its end');
  t.same([idle.bitrateKbps ?? 0, idle.connectedAt], [0, null], 'idle: no bitrate, not connected');
  t.equal(idle.retries, 0, 'never retried');

  // what the destination recorded: both runs of the publish, in one file on one timeline
  const file = dest.recording(key);
  const rec = await probeRecording(file);
  const expected = (firstPart.to - firstPart.from + (secondPart.to - secondPart.from)) / 1000;
  t.same([rec.width, rec.height, rec.decodedOk], [640, 360, true], 'the recording decodes at the source’s size');
  // each part's wall time is a little more than what reached the destination (the ingest's and
  // ffmpeg's start-up): a wide margin below, and clearly more than either part alone
  t.ok(rec.seconds >= expected - 8, `its duration (${rec.seconds.toFixed(1)} s) covers both parts (~${expected.toFixed(1)} s relayed)`);
  t.ok(rec.seconds >= Math.max(firstPart.to - firstPart.from, secondPart.to - secondPart.from) / 1000 + 5, 'more than either part alone');
  // the timeline goes on across the drop: no jump of the 4 s the publisher was away
  const pts = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file]);
  const times = pts.stdout.split('\n').map(Number).filter((n) => Number.isFinite(n) && n > 0);
  const gaps = times.slice(1).map((x, i) => x - times[i]!);
  const largest = Math.max(...gaps);
  t.ok(times.length > 100, `${times.length} video packets`);
  t.ok(largest < 2, `one continuous timeline (largest gap between video packets ${largest.toFixed(2)} s)`);
});

t.test('the keys appear in no log', async (t) => {
  const logs = stack.allLogs();
  t.ok(logs.includes(s.id), 'the logs talk about this stream');
  for (const k of [key, s.streamKey]) t.notOk(logs.includes(k), `…${k.slice(-4)}: in no log`);
});
