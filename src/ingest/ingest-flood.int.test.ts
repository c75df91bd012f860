// Before authentication nothing may cost the ingest unbounded memory: 10,000 refused, abandoned
// and multi-command connections with random stream names against a real ingest process.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { freePort } from '../local/processes.js';
import { publishTestPattern, randomId, waitFor } from '../testing/harness.js';
import { connectRaw, publishCommands, streamCommands } from '../testing/rtmp-client.js';
import { startStack } from '../testing/stack.js';

const ATTEMPTS = 10_000;
const CONCURRENCY = 16; // the pending cap per address is raised for it: this test is about what gets past the caps

const metricsPort = await freePort();
const stack = await startStack(t, { workers: 0, extraEnv: { METRICS_PORT: String(metricsPort), LOG_LEVEL: 'info', RTMP_MAX_PENDING_PER_IP: '50' } });
const ingest = stack.roles.find((r) => r.name === 'ingest')!;

const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${ingest.child.pid}/status`, 'utf8'))![1]) * 1024;
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
/** CPU seconds the ingest process has used (user + system). */
const cpu = () => {
  const fields = readFileSync(`/proc/${ingest.child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

async function scrape(): Promise<{ text: string; ms: number }> {
  const started = Date.now();
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { authorization: `Bearer ${stack.env.INTERNAL_API_KEY}` }, signal: AbortSignal.timeout(10_000) });
  return { text: await res.text(), ms: Date.now() - started };
}

async function gauge(name: string): Promise<number> {
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec((await scrape()).text);
  return m ? Number(m[1]) : NaN;
}

const name = () => `live_${randomId(12)}`;

/** One hostile connection; the shapes rotate: several publish/play commands, bad names, other apps, abandoned publishes. */
async function attempt(i: number): Promise<void> {
  const c = await connectRaw(stack.rtmpPort);
  try {
    await c.handshake();
    switch (i % 6) {
      case 0: // each command re-points the session's broadcast; only the last one was released
        c.send(streamCommands({ app: 'live', commands: [{ kind: 'publish', name: name() }, { kind: 'publish', name: name() }, { kind: 'play', name: name() }] }));
        break;
      case 1:
        c.send(streamCommands({ app: 'live', commands: [{ kind: 'play', name: name() }, { kind: 'play', name: `${name()}?sig=x` }, { kind: 'publish', name: name() }] }));
        break;
      case 2: // a plain refused publish (unknown key)
        c.send(publishCommands({ app: 'live', name: name() }));
        break;
      case 3: // another app, then a name node-media-server finds unsafe
        c.send(streamCommands({ app: `app${randomId(4)}`, commands: [{ kind: 'publish', name: name() }, { kind: 'publish', name: `bad.${randomId(4)}` }] }));
        break;
      case 4: // never authorised: the client leaves before the key check answers
        c.send(publishCommands({ app: 'live', name: name() }));
        c.socket.destroy();
        break;
      default: // an internal pull nobody signed
        c.send(streamCommands({ app: 'internal', commands: [{ kind: 'play', name: `${randomId(16)}?sig=${randomId(8)}` }, { kind: 'play', name: randomId(16) }] }));
    }
    await Promise.race([c.closed, new Promise((r) => setTimeout(r, 15_000))]);
  } catch {
    // refused during the handshake: fine
  } finally {
    c.socket.destroy();
  }
}

async function flood(count: number, onProgress?: (done: number) => Promise<void>): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        await attempt(next++);
        if (++done % 1_000 === 0) await onProgress?.(done);
      }
    }),
  );
}

t.test(`${ATTEMPTS} hostile connections leave no stream path behind and RSS within 20 MB`, async (t) => {
  await flood(600); // warm-up: code paths compiled, pools and buffers at their working size
  await waitFor(async () => (await gauge('onair_ingest_connections')) === 0, { what: 'warm-up connections to close' });
  await new Promise((r) => setTimeout(r, 2_000));
  const rss0 = rss();

  const logBefore = ingest.output().length;
  const scrapeMs: number[] = [];
  const started = Date.now();
  const cpu0 = cpu();
  await flood(ATTEMPTS, async () => {
    scrapeMs.push((await scrape()).ms); // the event loop answers while the flood goes on
  });
  const seconds = (Date.now() - started) / 1000;
  t.comment(`${ATTEMPTS} attempts in ${seconds.toFixed(1)} s (ingest CPU ${(cpu() - cpu0).toFixed(1)} s); scrapes during the flood took ${scrapeMs.join(', ')} ms`);
  t.ok(Math.max(...scrapeMs) < 2_000, 'metrics answered within 2 s during the flood');
  const lines = ingest.output().slice(logBefore).split('\n').filter(Boolean).length;
  t.ok(lines < 300, `the flood wrote ${lines} log lines, not one per attempt`);

  await waitFor(async () => (await gauge('onair_ingest_connections')) === 0, { what: 'every connection to close', timeoutMs: 15_000 });
  const paths = await waitFor(async () => {
    const n = await gauge('onair_ingest_paths');
    return n === 0 ? n : null;
  }, { what: 'no stream path left', timeoutMs: 15_000 }).catch(async () => gauge('onair_ingest_paths'));
  t.equal(paths, 0, 'no stream path is left in the RTMP server');
  await new Promise((r) => setTimeout(r, 2_000));
  const rss1 = rss();
  t.comment(`RSS ${mb(rss0)} MB → ${mb(rss1)} MB`);
  t.ok(rss1 - rss0 < 20 * 1024 * 1024, `RSS grew by ${mb(rss1 - rss0)} MB (< 20 MB)`);
  t.equal(ingest.child.exitCode, null, 'the ingest is still running');

  // a real publish is still answered promptly, and its paths go when it ends
  const s = await stack.createStream('after-the-flood');
  const c = await connectRaw(stack.rtmpPort);
  await c.handshake();
  const sentAt = Date.now();
  c.send(publishCommands({ app: 'live', name: s.streamKey }));
  await waitFor(async () => (await stack.db.query('SELECT 1 FROM publish_sessions WHERE stream_id = $1', [s.id])).rowCount === 1, { what: 'the publish to be accepted', timeoutMs: 5_000, intervalMs: 20 });
  const acceptedMs = Date.now() - sentAt;
  t.ok(acceptedMs < 2_000, `a real publish was accepted after ${acceptedMs} ms`);
  c.socket.destroy();
  await waitFor(async () => (await gauge('onair_ingest_paths')) === 0, { what: 'the refused publish’s path to go', timeoutMs: 10_000 });

  // a publish with media: its key path and its internal alias, both gone when it ends
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 160, height: 120, fps: 5, seconds: 60, videoKbps: 100, audio: false });
  await waitFor(async () => (await gauge('onair_ingest_paths')) === 2, { what: 'the publish’s two paths', timeoutMs: 15_000 });
  await pub.stop();
  await waitFor(async () => (await gauge('onair_ingest_paths')) === 0, { what: 'the ended publish’s paths to go', timeoutMs: 10_000 });
  t.pass('an ended publish leaves no path behind');
});
