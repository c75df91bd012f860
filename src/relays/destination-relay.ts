// One destination of a live stream's relay: it keeps a publisher connected for as long as the
// stream is live. A publisher that fails is replaced after a backoff (1, 2, 4, 8, then every
// 10 s), so a destination that comes back is live again within ~15 s; a destination that can not
// work as configured (a refused private address, a key that can not be decrypted) is `failed`
// until an organiser changes it. Its status is what the API shows (`idle | connecting | live |
// retrying | failed`), reported on every change and every few seconds for the counters.
import type { Log } from '../log.js';
import type { FlvTag } from './flv-reader.js';
import type { RelayStatus, RelayStatusWrite } from './repo.js';
import type { PublisherStatus, RtmpPublisherOptions } from './rtmp-publisher.js';
import type { RelayDestination } from './service.js';

/** What a relay needs of a publisher (RtmpPublisher; a fake in unit tests). */
export interface Publisher {
  start(): void;
  offer(tag: FlvTag): void;
  sourceRestarted(): void;
  stop(): void;
  status(): PublisherStatus;
  readonly done: Promise<PublisherStatus>;
}

/** Where a publisher gets its tags: the current run's fan-out (none between runs). */
export interface TagSource {
  add(p: Publisher): void;
  remove(p: Publisher): void;
}

/** A host the relay may not connect to as configured: retried only when the destination changes. */
export class PermanentRelayError extends Error {}

export interface DestinationRelayDeps {
  /** Resolves and checks the host right before a connect (RELAY_ALLOW_PRIVATE); answers the addresses. Throws PermanentRelayError for a refused host. */
  checkHost(host: string): Promise<string[]>;
  newPublisher(o: RtmpPublisherOptions): Publisher;
  report(s: RelayStatusWrite, announce: boolean): Promise<void>;
  extraCaPem: string | null;
  log: Log;
  /** Backoff before retry n (1-based), in ms. */
  backoffMs?: (n: number) => number;
  /** Aggregate counters (worker metrics), optional. */
  counted?: (event: 'live' | 'failed') => void;
  /** Aggregate counters (worker metrics), optional: bytes sent and queue overflows since the last call. */
  progress?: (delta: { bytes: number; keyframeDrops: number }) => void;
}

export const BACKOFF_CAP_MS = 10_000;
export const defaultBackoff = (n: number) => Math.min(BACKOFF_CAP_MS, 1_000 * 2 ** Math.max(0, n - 1));
/** Live this long: the next failure starts the backoff over. */
const HEALTHY_MS = 10_000;
/** Counters are written this often while nothing changes (the API calls a row older than 30 s stale). */
const REPORT_EVERY_MS = 5_000;

export class DestinationRelay {
  private publisher: Publisher | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Failures in a row (the backoff's n). */
  private failuresInRow = 0;
  private retries = 0;
  private lastError: string | null = null;
  private permanent = false;
  private stopped = false;
  /** Bytes of the publishers that ended (this broadcast, on this worker). */
  private bytesBefore = 0;
  /** Queue overflows of the publishers that ended. */
  private dropsBefore = 0;
  /** What `progress` has been told so far. */
  private counted = { bytes: 0, keyframeDrops: 0 };
  private reported: { status: RelayStatus; lastError: string | null; at: number } | null = null;
  private reporting: Promise<void> = Promise.resolve();
  private source: TagSource | null = null;

  constructor(
    public dest: RelayDestination,
    private readonly deps: DestinationRelayDeps,
  ) {}

  /** Starts relaying (connects now). */
  start(source: TagSource | null): void {
    this.source = source;
    void this.connect();
  }

  /** The destination's row changed: a new URL or key connects again; a new name is just kept. */
  update(dest: RelayDestination): void {
    const reconnect = dest.url !== this.dest.url || dest.key !== this.dest.key || dest.problem !== this.dest.problem;
    this.dest = dest;
    if (!reconnect || this.stopped) return;
    this.dropPublisher();
    this.clearRetry();
    this.failuresInRow = 0;
    this.permanent = false;
    this.lastError = null;
    void this.connect();
  }

  /** A new ffmpeg run (restart, reconnect): its fan-out feeds the publisher; the connection stays. */
  useSource(source: TagSource | null): void {
    if (this.publisher) {
      this.source?.remove(this.publisher);
      if (source) {
        this.publisher.sourceRestarted();
        source.add(this.publisher);
      }
    }
    this.source = source;
  }

  /** Stops for good. `final`: the status to leave in the row (null: write nothing, another worker goes on). */
  async stop(final: 'idle' | null): Promise<void> {
    this.stopped = true;
    this.clearRetry();
    this.dropPublisher();
    this.countProgress();
    if (final) await this.sync(true, final);
  }

  /** Every second: reports a change at once, the counters every few seconds. */
  async sync(force = false, override?: RelayStatus): Promise<void> {
    if (this.stopped && override === undefined) return; // stopped: only the final word is written
    const p = this.publisher?.status();
    this.countProgress(p);
    if (p?.state === 'live' && p.connectedAt && Date.now() - p.connectedAt.getTime() > HEALTHY_MS) this.failuresInRow = 0;
    const status = override ?? this.status(p);
    const lastError = status === 'live' ? null : this.lastError;
    const now = Date.now();
    const changed = !this.reported || this.reported.status !== status || this.reported.lastError !== lastError;
    if (!changed && !force && now - this.reported!.at < REPORT_EVERY_MS) return;
    this.reported = { status, lastError, at: now };
    const live = status === 'live' && p?.state === 'live';
    const write: RelayStatusWrite = {
      id: this.dest.id,
      status,
      bytesSent: this.bytesBefore + (p?.bytesSent ?? 0),
      bitrateKbps: live ? p.bitrateKbps : 0,
      connectedAt: live ? p.connectedAt : null,
      retries: this.retries,
      lastError,
    };
    if (changed && status === 'live') this.deps.counted?.('live');
    // one write at a time per destination, in order; a failed write is tried again at the next sync
    this.reporting = this.reporting.then(() =>
      this.deps.report(write, changed).catch((err: unknown) => {
        this.reported = null;
        this.deps.log.warn({ destinationId: this.dest.id, err: (err as Error).message }, 'Could not record a relay destination’s status.');
      }),
    );
    await this.reporting;
  }

  status(p = this.publisher?.status()): RelayStatus {
    if (this.stopped) return 'idle';
    if (this.permanent) return 'failed';
    if (p?.state === 'live') return 'live';
    return this.retries === 0 ? 'connecting' : 'retrying';
  }

  private async connect(): Promise<void> {
    if (this.stopped || this.publisher) return;
    const dest = this.dest;
    if (dest.key === null) return this.failPermanently(dest.problem ?? 'the stream key can not be decrypted; set it again');
    let address: string;
    try {
      const target = new URL(dest.url);
      [address] = (await this.deps.checkHost(target.hostname.replace(/^\[|\]$/g, ''))) as [string];
    } catch (err) {
      if (this.stopped || dest !== this.dest) return; // stopped or changed meanwhile
      if (err instanceof PermanentRelayError) return this.failPermanently(err.message);
      return this.failed((err as Error).message);
    }
    if (this.stopped || dest !== this.dest) return;
    let publisher: Publisher;
    try {
      publisher = this.deps.newPublisher({ url: dest.url, streamKey: dest.key, address, extraCaPem: this.deps.extraCaPem, log: this.deps.log });
    } catch (err) {
      return this.failPermanently((err as Error).message); // a URL the publisher can not use: only a change helps
    }
    this.publisher = publisher;
    this.source?.add(publisher);
    publisher.start();
    void this.sync(); // `connecting` (or `retrying`) at once
    void publisher.done.then((end) => {
      if (this.publisher !== publisher) return; // replaced or stopped on purpose
      this.source?.remove(publisher);
      this.publisher = null;
      this.bytesBefore += end.bytesSent;
      this.dropsBefore += end.keyframeDrops;
      if (end.state === 'failed') this.failed(end.lastError ?? 'the connection to the destination ended');
    });
  }

  private failed(reason: string): void {
    this.lastError = reason;
    this.failuresInRow += 1;
    this.retries += 1;
    this.deps.counted?.('failed');
    void this.sync();
    this.clearRetry();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, (this.deps.backoffMs ?? defaultBackoff)(this.failuresInRow));
  }

  private failPermanently(reason: string): void {
    this.permanent = true;
    this.lastError = reason;
    this.deps.log.warn({ destinationId: this.dest.id, reason }, 'A relay destination can not be used as configured; it waits for a change.');
    void this.sync();
  }

  private dropPublisher(): void {
    const p = this.publisher;
    if (!p) return;
    this.publisher = null;
    this.source?.remove(p);
    const end = p.status();
    this.bytesBefore += end.bytesSent;
    this.dropsBefore += end.keyframeDrops;
    p.stop();
  }

  /** Tells the aggregate counters what was sent and dropped since the last time (every sync, and the last of a publisher). */
  private countProgress(p = this.publisher?.status()): void {
    const bytes = this.bytesBefore + (p?.bytesSent ?? 0);
    const keyframeDrops = this.dropsBefore + (p?.keyframeDrops ?? 0);
    const delta = { bytes: Math.max(0, bytes - this.counted.bytes), keyframeDrops: Math.max(0, keyframeDrops - this.counted.keyframeDrops) };
    this.counted = { bytes, keyframeDrops };
    if (delta.bytes > 0 || delta.keyframeDrops > 0) this.deps.progress?.(delta);
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }
}
