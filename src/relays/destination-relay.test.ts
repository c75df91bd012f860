// A destination relay's aggregate counters (the worker's onair_relay_* series): connects by
// outcome, bytes sent and queue overflows handed over as deltas, nothing counted twice across a
// failed publisher, its replacement and the stop.
import t from 'tap';
import { silentLog } from '../log.js';
import { DestinationRelay, type Publisher } from './destination-relay.js';
import type { PublisherState, PublisherStatus } from './rtmp-publisher.js';

class CountingPublisher implements Publisher {
  state: PublisherState = 'idle';
  bytesSent = 0;
  keyframeDrops = 0;
  private end!: (s: PublisherStatus) => void;
  readonly done = new Promise<PublisherStatus>((r) => (this.end = r));
  start() {
    this.state = 'connecting';
  }
  offer() {}
  sourceRestarted() {}
  stop() {
    this.state = 'stopped';
    this.end(this.status());
  }
  fail() {
    this.state = 'failed';
    this.end({ ...this.status(), lastError: 'the destination closed the connection' });
  }
  status(): PublisherStatus {
    const live = this.state === 'live';
    return { state: this.state, lastError: null, bytesSent: this.bytesSent, bitrateKbps: 0, connectedAt: live ? new Date() : null, keyframeDrops: this.keyframeDrops, droppedTags: 0, queuedBytes: 0 };
  }
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

t.test('connects, bytes and key-frame drops reach the aggregate counters once each', async (t) => {
  const publishers: CountingPublisher[] = [];
  const connects: string[] = [];
  const totals = { bytes: 0, keyframeDrops: 0, calls: 0 };
  const relay = new DestinationRelay(
    { id: 'd1', name: 'A', url: 'rtmp://192.0.2.7/app', key: 'k' },
    {
      checkHost: async () => ['192.0.2.7'],
      newPublisher: () => {
        const p = new CountingPublisher();
        publishers.push(p);
        return p;
      },
      report: async () => undefined,
      extraCaPem: null,
      log: silentLog(),
      backoffMs: () => 10,
      counted: (outcome) => void connects.push(outcome),
      progress: (d) => {
        totals.bytes += d.bytes;
        totals.keyframeDrops += d.keyframeDrops;
        totals.calls += 1;
      },
    },
  );
  relay.start(null);
  await tick();
  const first = publishers[0]!;
  first.state = 'live';
  first.bytesSent = 5_000;
  await relay.sync();
  t.same(connects, ['live'], 'the connect that went live is counted');
  t.same([totals.bytes, totals.keyframeDrops], [5_000, 0]);
  await relay.sync();
  t.equal(totals.calls, 1, 'nothing new: no call');

  first.bytesSent = 7_000;
  first.keyframeDrops = 2;
  first.fail(); // its last figures are counted once, through the relay's totals
  await tick();
  t.same(connects, ['live', 'failed'], 'the failure is counted');
  await tick(50); // the backoff, then a new publisher
  const second = publishers[1]!;
  t.ok(second, 'a new publisher after the backoff');
  second.state = 'live';
  second.bytesSent = 1_000;
  second.keyframeDrops = 1;
  await relay.sync();
  t.same([totals.bytes, totals.keyframeDrops], [8_000, 3], 'the first publisher’s rest and the second’s, no more');
  t.same(connects, ['live', 'failed', 'live']);

  second.bytesSent = 1_500;
  await relay.stop('idle');
  t.same([totals.bytes, totals.keyframeDrops], [8_500, 3], 'the stop counts what was sent since the last sync');
  await relay.sync();
  t.equal(totals.bytes, 8_500, 'nothing after the stop');
});
