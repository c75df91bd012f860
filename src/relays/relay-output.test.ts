// The relay output with fake publishers: its ffmpeg output (golden), which destinations it
// relays and how each one's status follows its publishers (backoff, change, disable, the end of
// a broadcast, a handover). The real RTMP(S) side is in relay.int / relay-resilience.int.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { silentLog } from '../log.js';
import type { FfmpegSlots, OutputRun } from '../transcode/outputs.js';
import { defaultBackoff, PermanentRelayError, type Publisher } from './destination-relay.js';
import type { FlvTag } from './flv-reader.js';
import { relayArgs, relayOutput, type RelayOutputDeps } from './relay-output.js';
import type { RelayStatusWrite } from './repo.js';
import type { PublisherState, PublisherStatus, RtmpPublisherOptions } from './rtmp-publisher.js';
import type { RelayDestination } from './service.js';

const log = silentLog();
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

class FakePublisher implements Publisher {
  state: PublisherState = 'idle';
  offered: FlvTag[] = [];
  restarts = 0;
  private end!: (s: PublisherStatus) => void;
  readonly done = new Promise<PublisherStatus>((r) => (this.end = r));
  constructor(readonly o: RtmpPublisherOptions) {}
  start() {
    this.state = 'connecting';
  }
  offer(tag: FlvTag) {
    this.offered.push(tag);
  }
  sourceRestarted() {
    this.restarts += 1;
  }
  stop() {
    this.state = 'stopped';
    this.end(this.status());
  }
  live() {
    this.state = 'live';
  }
  fail(reason: string) {
    this.state = 'failed';
    this.end({ ...this.status(), lastError: reason });
  }
  status(): PublisherStatus {
    const live = this.state === 'live';
    return { state: this.state, lastError: null, bytesSent: 1000, bitrateKbps: live ? 2500 : 0, connectedAt: live ? new Date() : null, keyframeDrops: 0, droppedTags: 0, queuedBytes: 0 };
  }
}

function harness(o: { destinations: RelayDestination[]; checkHost?: RelayOutputDeps['checkHost'] }) {
  const publishers: FakePublisher[] = [];
  const reports: { s: RelayStatusWrite; announce: boolean }[] = [];
  let changed: (() => void) | null = null;
  let wanted = o.destinations;
  const deps: RelayOutputDeps = {
    destinations: async () => wanted,
    onChange: (_id, fn) => ((changed = fn), () => (changed = null)),
    checkHost: o.checkHost ?? (async () => ['192.0.2.7']),
    newPublisher: (opts) => {
      const p = new FakePublisher(opts);
      publishers.push(p);
      return p;
    },
    report: async (s, announce) => void reports.push({ s, announce }),
    extraCaPem: null,
    backoffMs: () => 20,
    refreshMs: 60_000,
  };
  const output = relayOutput({ streamId: 's1', deps });
  const pipes: ((s: PassThrough) => void)[] = [];
  const outputs: string[][] = [];
  const slots: FfmpegSlots = {
    slave: () => undefined,
    tap: (n) => n,
    pipe: (read) => (pipes.push(read), `pipe:${3 + pipes.length - 1}`),
    output: (args) => void outputs.push(args),
  };
  const run = { job: { streamId: 's1' }, continuing: false, log } as unknown as OutputRun;
  return {
    output,
    publishers,
    reports,
    outputs,
    prepare: async () => output.prepare(run, slots),
    feed: () => {
      const s = new PassThrough();
      pipes[pipes.length - 1]!(s);
      return s;
    },
    change: async (next: RelayDestination[]) => {
      wanted = next;
      changed?.();
      await tick(10);
    },
    statuses: (id: string) => reports.filter((r) => r.s.id === id).map((r) => r.s.status),
    subscribed: () => changed !== null,
  };
}

const dest = (id: string, over: Partial<RelayDestination> = {}): RelayDestination => ({ id, name: id, url: `rtmp://${id}.example.com/live`, key: `key-of-${id}`, ...over });

t.test('golden: the source as received (codec copy) in FLV on a pipe, never a key', async (t) => {
  t.equal(relayArgs({ pipe: 'pipe:5' }).join(' '), '-map 0:v? -map 0:a? -c copy -flvflags no_duration_filesize -f flv pipe:5');
  t.throws(() => relayArgs({ pipe: 'rtmp://x/live/key' }), /must be a pipe/);
});

t.test('every enabled destination gets its own publisher, connected to the checked address, fed from the run’s FLV', async (t) => {
  const h = harness({ destinations: [dest('a'), dest('b')] });
  await h.prepare();
  t.same(h.outputs, [relayArgs({ pipe: 'pipe:3' })], 'one ffmpeg output, whatever the number of destinations');
  t.equal(h.publishers.length, 2);
  t.same(h.publishers.map((p) => [p.o.url, p.o.streamKey, p.o.address]), [['rtmp://a.example.com/live', 'key-of-a', '192.0.2.7'], ['rtmp://b.example.com/live', 'key-of-b', '192.0.2.7']]);
  const flv = h.feed();
  // an FLV header and one script tag reach both publishers
  const header = Buffer.from([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]);
  const body = Buffer.from([2, 0, 0, 0]);
  const tag = Buffer.concat([Buffer.from([18, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]), body, Buffer.from([0, 0, 0, 15])]);
  flv.write(Buffer.concat([header, tag]));
  await tick(10);
  t.same(h.publishers.map((p) => p.offered.length), [1, 1]);
  h.publishers[0]!.live();
  await tick(1100); // the status sync runs every second
  t.same(h.statuses('a'), ['connecting', 'live']);
  t.same(h.statuses('b'), ['connecting']);
  t.ok(h.reports.every((r) => r.announce), 'changes are announced');
  await h.output.runEnded!('ended');
  t.same(h.publishers.map((p) => p.state), ['stopped', 'stopped']);
  t.equal(h.statuses('a').at(-1), 'idle', 'the end of the broadcast leaves them idle');
  t.notOk(h.subscribed(), 'no longer listening for changes');
});

t.test('a failing destination retries with backoff (retrying, last error, retries counted) and comes back live; the other is untouched', async (t) => {
  const h = harness({ destinations: [dest('a'), dest('b')] });
  await h.prepare();
  const [a, b] = h.publishers as [FakePublisher, FakePublisher];
  b.live();
  a.fail('the destination refused the stream (NetStream.Publish.BadName)');
  await tick(50); // backoff 20 ms: a new publisher
  t.equal(h.publishers.length, 3, 'a new publisher for a');
  const last = h.reports.filter((r) => r.s.id === 'a').at(-1)!.s;
  t.match(last, { status: 'retrying', retries: 1, lastError: /refused the stream/ });
  h.publishers[2]!.live();
  await tick(1100);
  t.match(h.reports.filter((r) => r.s.id === 'a').at(-1)!.s, { status: 'live', lastError: null, retries: 1, bitrateKbps: 2500 });
  t.equal(b.state, 'live', 'b kept its connection');
  await h.output.runEnded!('handover');
  const before = h.reports.length;
  t.same(h.publishers.map((p) => p.state), ['failed', 'stopped', 'stopped'], 'a handover stops every connection');
  await tick(1100);
  t.equal(h.reports.length, before, 'and writes nothing: the next holder of the stream writes the rows');
});

t.test('backoff: 1, 2, 4, 8 s, then every 10 s', async (t) => {
  t.same([1, 2, 3, 4, 5, 9].map(defaultBackoff), [1000, 2000, 4000, 8000, 10000, 10000]);
});

t.test('connections live across runs of one broadcast (restart, reconnecting): the new run’s FLV feeds them', async (t) => {
  const h = harness({ destinations: [dest('a')] });
  await h.prepare();
  const a = h.publishers[0]!;
  a.live();
  await h.output.runEnded!('reconnecting');
  t.equal(a.state, 'live', 'the grace keeps the connection');
  await h.prepare();
  t.equal(a.restarts, 1, 'told that its source starts over');
  t.equal(h.publishers.length, 1, 'no second publisher');
  await h.output.runEnded!('restart');
  await h.prepare();
  t.equal(a.restarts, 2);
  await h.output.runEnded!('ended');
});

t.test('changes while live: added, disabled, changed key; a private host and an undecryptable key are failed, not retried', async (t) => {
  const h = harness({
    destinations: [dest('a')],
    checkHost: async (host) => {
      if (host.startsWith('lan')) throw new PermanentRelayError('the destination host "lan" is on a private address');
      return ['192.0.2.7'];
    },
  });
  await h.prepare();
  await h.change([dest('a'), dest('b')]);
  t.equal(h.publishers.length, 2, 'added: connected within the refresh');
  await h.change([dest('b')]);
  t.equal(h.publishers[0]!.state, 'stopped', 'disabled (or deleted): its connection closes');
  t.equal(h.statuses('a').at(-1), 'idle');
  await h.change([dest('b', { key: 'new-key' })]);
  t.equal(h.publishers[1]!.state, 'stopped', 'a new key: the old connection closes');
  t.equal(h.publishers[2]!.o.streamKey, 'new-key', 'and a new one opens with the new key');
  await h.change([dest('b', { key: 'new-key', name: 'renamed' }), dest('lan', { url: 'rtmp://lan.local/live' }), dest('c', { key: null, problem: 'its stream key can not be decrypted' })]);
  t.equal(h.publishers.length, 3, 'a rename keeps the connection; the broken ones never connect');
  t.match(h.reports.filter((r) => r.s.id === 'lan').at(-1)!.s, { status: 'failed', lastError: /private address/ });
  t.match(h.reports.filter((r) => r.s.id === 'c').at(-1)!.s, { status: 'failed', lastError: /can not be decrypted/ });
  await tick(100);
  t.equal(h.publishers.length, 3, 'failed ones wait for a change');
  await h.output.runEnded!('ended');
});

t.test('the counters are written every few seconds without announcing; a host that does not resolve is retried', async (t) => {
  let calls = 0;
  const h = harness({
    destinations: [dest('a')],
    checkHost: async () => {
      calls += 1;
      if (calls === 1) throw new Error('The destination host "a.example.com" does not resolve; check the server URL.');
      return ['192.0.2.7'];
    },
  });
  await h.prepare();
  await tick(60);
  t.match(h.reports[0]!.s, { status: 'retrying', lastError: /does not resolve/ });
  t.equal(h.publishers.length, 1, 'tried again after the backoff');
  h.publishers[0]!.live();
  await tick(6500);
  const live = h.reports.filter((r) => r.s.status === 'live');
  t.ok(live.length >= 2, 'written again while nothing changed');
  t.same(live.map((r) => r.announce), [true, ...live.slice(1).map(() => false)], 'only the change is announced');
  await h.output.runEnded!('ended');
});
