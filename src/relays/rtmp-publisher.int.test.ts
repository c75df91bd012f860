// The relay publisher against real destinations on this machine: nginx-rtmp recording what it
// receives, stunnel4 as an RTMPS front with a test CA, a throttling proxy as a slow destination,
// fed by a real ffmpeg writing FLV to a pipe.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import type { Log } from '../log.js';
import { randomId, waitFor } from '../testing/harness.js';
import { flvTestSource, makeTestCa, probeRecording, startRtmpDestination, startThrottleProxy, startTlsFront } from '../testing/rtmp-destination.js';
import { FlvFanout } from './flv-fanout.js';
import { RtmpPublisher } from './rtmp-publisher.js';

/** A logger whose every line is kept, to check that no key reaches a log. */
function keptLog(): { log: Log; text: () => string } {
  let text = '';
  const sink = new Writable({ write: (c: Buffer, _e, cb) => ((text += c.toString()), cb()) });
  return { log: pino({ level: 'debug' }, sink), text: () => text };
}

const SECONDS = 8;

t.test('one FLV source fans out to rtmp:// and rtmps:// destinations; both recordings decode at 640x360 for about the source duration; no key in any log', async (t) => {
  const keyA = `live_${randomId(8)}`;
  const keyB = `live_${randomId(8)}`;
  const destA = await startRtmpDestination(t, { acceptKey: keyA });
  const destB = await startRtmpDestination(t);
  const ca = await makeTestCa('fanout');
  const tlsPort = await startTlsFront(t, { targetPort: destB.port, ca });
  const logs = keptLog();
  const a = new RtmpPublisher({ url: `rtmp://127.0.0.1:${destA.port}/live`, streamKey: keyA, log: logs.log });
  const b = new RtmpPublisher({ url: `rtmps://localhost:${tlsPort}/live`, streamKey: keyB, log: logs.log, extraCaPem: ca.caPem });
  const fanout = new FlvFanout();
  fanout.add(a);
  fanout.add(b);
  a.start();
  b.start();
  const source = flvTestSource(t, { seconds: SECONDS, width: 640, height: 360 });
  const consumed = fanout.consume(source.stdout!);
  await waitFor(() => a.status().state === 'live' && b.status().state === 'live', { what: 'both relays live', timeoutMs: 15_000 });
  await consumed;
  await waitFor(() => a.status().queuedBytes === 0 && b.status().queuedBytes === 0, { what: 'the queues to empty', timeoutMs: 10_000 });
  const [sa, sb] = [a.status(), b.status()];
  for (const s of [sa, sb]) {
    t.equal(s.state, 'live');
    t.ok(s.bytesSent > 100_000, `bytes sent (${s.bytesSent})`);
    t.ok(s.bitrateKbps > 50, `bitrate ${s.bitrateKbps} kbps`);
    t.ok(s.connectedAt instanceof Date);
    t.equal(s.keyframeDrops, 0);
  }
  a.stop();
  b.stop();
  t.same(destA.publishNames, [keyA], 'nginx-rtmp was asked about the key we sent');
  for (const [dest, key] of [[destA, keyA], [destB, keyB]] as const) {
    const rec = await waitFor(async () => {
      const p = await probeRecording(dest.recording(key));
      return p.seconds > 0 ? p : null;
    }, { what: 'the recording', timeoutMs: 10_000 });
    t.equal(rec.width, 640);
    t.equal(rec.height, 360);
    t.ok(rec.decodedOk, 'the recording decodes without an error');
    t.ok(rec.seconds > SECONDS - 3 && rec.seconds < SECONDS + 2, `recorded ${rec.seconds} s of a ${SECONDS} s source`);
  }
  for (const key of [keyA, keyB]) t.notOk(logs.text().includes(key), 'no stream key in the logs');
  t.ok(logs.text().includes('live at the destination'), 'the logs say it (so the check above looked at real lines)');
});

t.test('a destination refusing the key: the publisher fails with a clear error, and the key is in neither the error nor the logs', async (t) => {
  const good = `live_${randomId(8)}`;
  const wrong = `live_${randomId(8)}`;
  const dest = await startRtmpDestination(t, { acceptKey: good });
  const logs = keptLog();
  const p = new RtmpPublisher({ url: `rtmp://127.0.0.1:${dest.port}/live`, streamKey: wrong, log: logs.log });
  p.start();
  const source = flvTestSource(t, { seconds: 6, width: 320, height: 180 });
  const fanout = new FlvFanout();
  fanout.add(p);
  void fanout.consume(source.stdout!);
  const end = await p.done;
  t.equal(end.state, 'failed');
  t.match(end.lastError, /refused the stream|before accepting the stream \(is the stream key right\?\)/, `a clear error: ${end.lastError}`);
  t.same(dest.publishNames, [wrong], 'the destination saw (and refused) our publish');
  t.notOk(end.lastError!.includes(wrong), 'no key in the error');
  t.notOk(logs.text().includes(wrong), 'no key in the logs');
  t.ok(logs.text().includes(end.lastError!.replace(/[()?]/g, '').slice(0, 30)) || logs.text().includes('failed'), 'the failure is logged');
});

t.test('rtmps:// to a certificate from an unknown CA fails with an error naming the certificate; the same front with its CA trusted goes live', async (t) => {
  const dest = await startRtmpDestination(t);
  const ca = await makeTestCa('unknown');
  const tlsPort = await startTlsFront(t, { targetPort: dest.port, ca });
  const key = `live_${randomId(8)}`;
  const logs = keptLog();
  // only the system CAs: the test CA is not among them
  const p = new RtmpPublisher({ url: `rtmps://localhost:${tlsPort}/live`, streamKey: key, log: logs.log });
  p.start();
  const end = await p.done;
  t.equal(end.state, 'failed');
  t.match(end.lastError, /TLS certificate is not signed by a trusted authority/);
  t.notOk(logs.text().includes(key));
  // and the same front with its CA trusted is accepted (so the refusal was the CA)
  const ok = new RtmpPublisher({ url: `rtmps://localhost:${tlsPort}/live`, streamKey: key, log: logs.log, extraCaPem: ca.caPem });
  ok.start();
  const source = flvTestSource(t, { seconds: 4, width: 320, height: 180 });
  const fanout = new FlvFanout();
  fanout.add(ok);
  void fanout.consume(source.stdout!);
  await waitFor(() => ok.status().state === 'live', { what: 'the trusted relay live', timeoutMs: 15_000 });
  ok.stop();
});

t.test('a slow destination never holds the source back: ffmpeg keeps real time, a fast destination alongside gets everything, the slow one drops to key frames and counts it', async (t) => {
  const secs = 16;
  const slowDest = await startRtmpDestination(t);
  const fastDest = await startRtmpDestination(t);
  const proxy = await startThrottleProxy(t, { targetPort: slowDest.port, bytesPerSecond: 25_000 });
  const logs = keptLog();
  const slowKey = `slow_${randomId(6)}`;
  const fastKey = `fast_${randomId(6)}`;
  const limits = { maxBytes: 512 * 1024, maxMs: 2_000 };
  const slow = new RtmpPublisher({ url: `rtmp://127.0.0.1:${proxy.port}/live`, streamKey: slowKey, log: logs.log, limits });
  const fast = new RtmpPublisher({ url: `rtmp://127.0.0.1:${fastDest.port}/live`, streamKey: fastKey, log: logs.log, limits });
  const fanout = new FlvFanout();
  fanout.add(slow);
  fanout.add(fast);
  slow.start();
  fast.start();
  const started = Date.now();
  // ~8 Mbit/s: enough to fill the kernel's socket buffers (up to 4 MB on Debian) in a few seconds
  const source = flvTestSource(t, { seconds: secs, width: 640, height: 360, videoKbps: 8000, noise: true });
  await fanout.consume(source.stdout!);
  const took = (Date.now() - started) / 1000;
  // -re: the source takes its own duration; blocked by a slow reader it would take far longer
  t.ok(took < secs + 6, `the source ran at its pace (${took.toFixed(1)} s for ${secs} s)`);
  t.ok(fanout.lastTimestamp >= (secs - 1) * 1000, `the fan-out read all of it (${fanout.lastTimestamp} ms)`);
  const s = slow.status();
  t.equal(s.state, 'live', 'the slow destination is still live');
  t.ok(s.keyframeDrops > 0, `drops to the next key frame were counted (${s.keyframeDrops}, ${s.droppedTags} tags)`);
  t.ok(s.queuedBytes <= limits.maxBytes, `its queue stayed bounded (${s.queuedBytes} bytes)`);
  t.ok(proxy.forwarded() < 25_000 * (took + 2), 'the proxy really throttled');
  await waitFor(() => fast.status().queuedBytes === 0, { what: 'the fast queue to empty', timeoutMs: 10_000 });
  t.equal(fast.status().keyframeDrops, 0, 'the fast destination lost nothing');
  fast.stop();
  slow.stop();
  const rec = await waitFor(async () => {
    const p = await probeRecording(fastDest.recording(fastKey));
    return p.seconds > 0 ? p : null;
  }, { what: 'the fast recording', timeoutMs: 10_000 });
  t.equal(rec.width, 640);
  t.ok(rec.seconds > secs - 3, `the fast destination recorded ${rec.seconds} s`);
});

t.test('a destination dying mid-stream fails its publisher in words; the other destination and the source carry on', async (t) => {
  const secs = 8;
  const dying = await startRtmpDestination(t);
  const other = await startRtmpDestination(t);
  const logs = keptLog();
  const dyingKey = `live_${randomId(6)}`;
  const otherKey = `live_${randomId(6)}`;
  const d = new RtmpPublisher({ url: `rtmp://127.0.0.1:${dying.port}/live`, streamKey: dyingKey, log: logs.log });
  const o = new RtmpPublisher({ url: `rtmp://127.0.0.1:${other.port}/live`, streamKey: otherKey, log: logs.log });
  const fanout = new FlvFanout();
  fanout.add(d);
  fanout.add(o);
  d.start();
  o.start();
  const started = Date.now();
  const consumed = fanout.consume(flvTestSource(t, { seconds: secs, width: 320, height: 180 }).stdout!);
  await waitFor(() => d.status().state === 'live' && o.status().state === 'live', { what: 'both live', timeoutMs: 15_000 });
  await new Promise((r) => setTimeout(r, 2_000));
  await dying.stop();
  const end = await d.done;
  t.equal(end.state, 'failed');
  t.equal(end.lastError, 'the destination closed the connection');
  await consumed;
  t.ok((Date.now() - started) / 1000 < secs + 6, 'the source kept its pace');
  t.equal(o.status().state, 'live', 'the other destination is still live');
  await waitFor(() => o.status().queuedBytes === 0, { what: 'the queue to empty', timeoutMs: 10_000 });
  o.stop();
  const rec = await waitFor(async () => {
    const p = await probeRecording(other.recording(otherKey));
    return p.seconds > 0 ? p : null;
  }, { what: 'the recording', timeoutMs: 10_000 });
  t.ok(rec.decodedOk && rec.seconds > secs - 3, `the other destination recorded ${rec.seconds} s`);
  t.notOk(logs.text().includes(dyingKey) || logs.text().includes(otherKey), 'no key in the logs');
});
