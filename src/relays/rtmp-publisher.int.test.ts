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
