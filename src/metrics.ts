// Every Prometheus metric, in one place. Each role process builds one registry with
// createMetrics(role) in its composition root and passes the role's metrics object to the code
// that records them; nothing here is a module-level singleton.
//
// Labels are bounded on purpose: route templates, methods, status codes, refusal reasons,
// profile and rendition names, queue states. Never a stream key, session id or user, and a
// stream id only as below.
//
// One exception, on the API's relay series: `destination` (a relay destination's id) and
// `stream` (its stream's id). A destination is a configured object, like a route: an admin
// creates it, there are at most RELAY_MAX_DESTINATIONS per stream, and its series vanish at the
// next scrape after it is deleted (they are read from Postgres at scrape time, not kept here).
// Its id is no secret (the API answers it to staff and the session's speakers; its key and URL
// are never a label), and an operator needs to see *which* destination is failing. Publishes,
// sessions, viewers and users are events, not configuration: they never become labels.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type MetricsRole = 'api' | 'ingest' | 'worker';

export const METRICS_PREFIX = 'onair_';

/** Why a publish was refused (PublishRefused reasons, plus an unexpected failure). */
export const REFUSAL_REASONS = ['unknown_key', 'disabled', 'stopped', 'already_live', 'unsupported_codec', 'bad_app', 'no_video', 'internal', 'internal_error'] as const;

export interface ApiMetrics {
  /** REST requests by route template (e.g. /events/:id), method and status. */
  httpRequestSeconds: Histogram<'method' | 'route' | 'status'>;
  wsConnections: Gauge;
  wsFramesReceived: Counter;
  wsFramesSent: Counter;
  wsSlowClientsDropped: Counter;
  /** Viewer analytics: where this node's viewer lines and their datagrams went, read from the collector at scrape time. */
  readViewerLines(read: () => ViewerLineCounts): void;
  rollupSeconds: Histogram;
  /** Recordings: bytes and count by status (Postgres) and the recordings volume's free space, read at scrape time. */
  readRecordings(read: () => Promise<RecordingCounts>): void;
  /** Relay destinations (Postgres), read at scrape time: counts by status and enabled, and each one's status. */
  readDestinations(read: () => Promise<DestinationSample[]>): void;
}

export const RELAY_CONNECT_OUTCOMES = ['live', 'failed'] as const;
export const RELAY_STATUS_LABELS = ['idle', 'connecting', 'live', 'retrying', 'failed'] as const;
/** One relay destination as its row says (the relay writes the status columns). */
export interface DestinationSample {
  id: string;
  streamId: string;
  status: string;
  enabled: boolean;
  bytesSent: number;
  bitrateKbps: number | null;
  retries: number;
}

export const RECORDING_STATUS_LABELS = ['recording', 'finalising', 'ready', 'failed'] as const;
export interface RecordingCounts {
  byStatus: { status: string; bytes: number; count: number }[];
  /** Free bytes on the recordings volume; null when its directory is not there yet. */
  freeBytes: number | null;
}

export const VIEWER_LINE_OUTCOMES = ['received', 'rejected', 'banned', 'folded', 'late', 'dropped'] as const;
export const VIEWER_DATAGRAM_OUTCOMES = ['accepted', 'forged', 'replayed', 'stale'] as const;
export type ViewerLineCounts = Record<(typeof VIEWER_LINE_OUTCOMES)[number], number> & { datagrams: Record<(typeof VIEWER_DATAGRAM_OUTCOMES)[number], number> };

export interface IngestMetrics {
  publishers: Gauge;
  receivedBytes: Counter;
  publishesAccepted: Counter;
  publishesRefused: Counter<'reason'>;
  /** Where the connection and stream-path gauges read their counts from at scrape time. */
  readConnections(read: () => IngestConnectionCounts): void;
  /** Connections refused at accept, by the cap that refused them. */
  connectionsRefused: Counter<'cap'>;
  /** Internal pullers dropped because they stopped reading (too much queued for them). */
  pullersDropped: Counter;
}

export interface IngestConnectionCounts {
  /** Open RTMP/RTMPS connections. */
  connections: number;
  /** Of those, connections that have not published (or been allowed to pull) yet. */
  pending: number;
  /** Stream paths the RTMP server holds an entry for (live streams and their internal aliases). */
  paths: number;
}

export interface FfmpegSample {
  speed: number | null;
  fps: number | null;
}

export interface WorkerMetrics {
  activeJobs: Gauge<'profile'>;
  restarts: Counter<'profile'>;
  takeovers: Counter<'profile'>;
  queueWaitSeconds: Histogram<'profile'>;
  segmentsWritten: Counter<'rendition'>;
  firstSegmentSeconds: Histogram<'profile'>;
  /** Live thumbnails written (transcode/thumbnail-writer.ts): flat while streams are live means they fail. */
  thumbnailsWritten: Counter;
  /** Relays (relays/relay-output.ts), all destinations together (per destination: the API's onair_relay_destination_* series). Bytes written to destinations. */
  relaySentBytes: Counter;
  /** Relay connects by outcome: `live` (the destination accepted the publish) or `failed` (refused, unreachable, TLS, timed out). */
  relayConnects: Counter<'outcome'>;
  /** Times a destination's queue overflowed (it was slower than the source) and was dropped up to the next key frame. */
  relayKeyframeDrops: Counter;
  /** Records the last ffmpeg progress of one running transcode (key: any object owned by it). */
  ffmpegReport(key: object, profile: string, sample: FfmpegSample): void;
  /** The transcode's ffmpeg stopped: it no longer counts in the speed/fps gauges. */
  ffmpegForget(key: object): void;
  /** Where the queue-depth gauge reads job counts from at scrape time. */
  setQueueCounts(read: () => Promise<Record<string, number>>): void;
}

interface RoleMetrics {
  api: ApiMetrics;
  ingest: IngestMetrics;
  worker: WorkerMetrics;
}

export interface Metrics<R extends MetricsRole = MetricsRole> {
  registry: Registry;
  role: R;
  metrics: RoleMetrics[R];
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FIRST_SEGMENT_BUCKETS = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 60];
const QUEUE_WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

function apiMetrics(registers: Registry[]): ApiMetrics {
  let readLines = (): ViewerLineCounts => ({ received: 0, rejected: 0, banned: 0, folded: 0, late: 0, dropped: 0, datagrams: { accepted: 0, forged: 0, replayed: 0, stale: 0 } });
  new Counter({
    name: 'onair_viewer_lines_total',
    help: 'Viewer lines (nginx requests with a playback token, heartbeats) on this API node: received over UDP, rejected (malformed, unknown session, session without a stream, not a rendition of its stream), banned (the viewer is banned from the event), folded into Redis, refused as late, dropped (buffer full while Redis was away).',
    labelNames: ['outcome'] as const,
    registers,
    collect() {
      this.reset();
      const now = readLines();
      for (const outcome of VIEWER_LINE_OUTCOMES) this.inc({ outcome }, now[outcome]);
    },
  });
  new Counter({
    name: 'onair_viewer_datagrams_total',
    help: 'Datagrams of viewer lines on this API node: accepted, refused as forged (HMAC), as a repeat (replayed), or as stale (sent over a minute away from this clock, or before this node started).',
    labelNames: ['outcome'] as const,
    registers,
    collect() {
      this.reset();
      const now = readLines().datagrams;
      for (const outcome of VIEWER_DATAGRAM_OUTCOMES) this.inc({ outcome }, now[outcome]);
    },
  });
  let readRecordings: (() => Promise<RecordingCounts>) | null = null;
  let recordingCounts: Promise<RecordingCounts | null> | null = null;
  /** One read per scrape for the gauges below (each collect asks; the first read is shared). */
  const recordingsNow = () => {
    if (!readRecordings) return Promise.resolve(null);
    recordingCounts ??= readRecordings()
      .catch(() => null) // Postgres away: the series go stale rather than report 0
      .finally(() => setImmediate(() => (recordingCounts = null)));
    return recordingCounts;
  };
  new Gauge({
    name: 'onair_recordings_bytes',
    help: 'Disk space the recordings take, by status (recording, finalising, ready, failed), from the recordings table.',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      const now = await recordingsNow();
      if (!now) return;
      for (const status of RECORDING_STATUS_LABELS) this.set({ status }, now.byStatus.find((r) => r.status === status)?.bytes ?? 0);
    },
  });
  new Gauge({
    name: 'onair_recordings',
    help: 'Recordings, by status.',
    labelNames: ['status'] as const,
    registers,
    async collect() {
      const now = await recordingsNow();
      if (!now) return;
      for (const status of RECORDING_STATUS_LABELS) this.set({ status }, now.byStatus.find((r) => r.status === status)?.count ?? 0);
    },
  });
  new Gauge({
    name: 'onair_recordings_disk_free_bytes',
    help: 'Free space on the recordings volume (RECORDINGS_DIR), as this API node sees it.',
    registers,
    async collect() {
      const now = await recordingsNow();
      if (now?.freeBytes != null) this.set(now.freeBytes);
    },
  });
  const readDestinations = relayDestinationSeries(registers);
  return {
    httpRequestSeconds: new Histogram({
      name: 'onair_http_request_duration_seconds',
      help: 'REST request latency by route template, method and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    wsConnections: new Gauge({ name: 'onair_ws_connections', help: 'Open WebSocket connections on this API node.', registers }),
    wsFramesReceived: new Counter({ name: 'onair_ws_frames_received_total', help: 'WebSocket frames received from clients.', registers }),
    wsFramesSent: new Counter({ name: 'onair_ws_frames_sent_total', help: 'WebSocket frames written to clients.', registers }),
    wsSlowClientsDropped: new Counter({ name: 'onair_ws_slow_clients_dropped_total', help: 'WebSocket clients closed because they could not keep up.', registers }),
    readViewerLines(read) {
      readLines = read;
    },
    rollupSeconds: new Histogram({ name: 'onair_analytics_rollup_duration_seconds', help: 'Analytics roll-up runs (Redis → Postgres) on this node.', buckets: LATENCY_BUCKETS, registers }),
    readRecordings(read) {
      readRecordings = read;
    },
    readDestinations,
  };
}

/**
 * The API's relay series, read from Postgres at scrape time (one read per scrape, shared by the
 * gauges): destinations counted by status and enabled, and one series per destination (labelled
 * by its id and its stream's id, see the header) for its status, bytes sent, bitrate and retries.
 * The per-destination series are rebuilt at every scrape, so a deleted destination's vanish.
 */
function relayDestinationSeries(registers: Registry[]): (read: () => Promise<DestinationSample[]>) => void {
  let read: (() => Promise<DestinationSample[]>) | null = null;
  let pending: Promise<DestinationSample[] | null> | null = null;
  const now = () => {
    if (!read) return Promise.resolve(null);
    if (!pending) {
      pending = read().catch(() => null); // Postgres away: the series go stale rather than report 0
      // a scrape calls every collect in one synchronous pass: they all get this read; the next scrape reads anew
      queueMicrotask(() => (pending = null));
    }
    return pending;
  };
  new Gauge({
    name: 'onair_relay_destinations',
    help: 'Relay destinations by status (idle, connecting, live, retrying, failed) and whether enabled, from the stream_destinations table.',
    labelNames: ['status', 'enabled'] as const,
    registers,
    async collect() {
      const rows = await now();
      if (!rows) return;
      for (const status of RELAY_STATUS_LABELS) {
        for (const enabled of [true, false]) this.set({ status, enabled: String(enabled) }, rows.filter((r) => r.status === status && r.enabled === enabled).length);
      }
    },
  });
  /** Per destination: reset, then one sample per row still there. */
  const perDestination = (fill: (r: DestinationSample, labels: { destination: string; stream: string }) => void) =>
    async function (this: { reset(): void }) {
      const rows = await now();
      if (!rows) return;
      this.reset();
      for (const r of rows) fill(r, { destination: r.id, stream: r.streamId });
    };
  const status = new Gauge({
    name: 'onair_relay_destination_status',
    help: 'Each relay destination\'s status as its relay last wrote it: one series per destination, value 1, its status in the status label (idle, connecting, live, retrying, failed).',
    labelNames: ['destination', 'stream', 'status'] as const,
    registers,
    collect: perDestination((r, l) => status.set({ ...l, status: r.status }, 1)),
  });
  const sent = new Counter({
    name: 'onair_relay_destination_sent_bytes_total',
    help: 'Bytes the relay has sent to each destination, as its row says (starts again at 0 when the destination is relayed anew).',
    labelNames: ['destination', 'stream'] as const,
    registers,
    collect: perDestination((r, l) => sent.inc(l, Math.max(0, r.bytesSent))),
  });
  const bitrate = new Gauge({
    name: 'onair_relay_destination_bitrate_kbps',
    help: 'Each relay destination\'s bitrate over the last few seconds in kbit/s, as its relay last wrote it (0 when it never sent).',
    labelNames: ['destination', 'stream'] as const,
    registers,
    collect: perDestination((r, l) => bitrate.set(l, r.bitrateKbps ?? 0)),
  });
  const retries = new Counter({
    name: 'onair_relay_destination_retries_total',
    help: 'Times the relay has retried each destination after a failure, as its row says.',
    labelNames: ['destination', 'stream'] as const,
    registers,
    collect: perDestination((r, l) => retries.inc(l, Math.max(0, r.retries))),
  });
  return (r) => void (read = r);
}

function ingestMetrics(registers: Registry[]): IngestMetrics {
  const refused = new Counter({
    name: 'onair_ingest_publishes_refused_total',
    help: 'Publishes refused, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of REFUSAL_REASONS) refused.inc({ reason }, 0); // every reason shows, at 0
  let readCounts = (): IngestConnectionCounts => ({ connections: 0, pending: 0, paths: 0 });
  new Gauge({
    name: 'onair_ingest_pending_connections',
    help: 'RTMP/RTMPS connections on this ingest that have not published (or been allowed to pull) yet.',
    registers,
    collect() {
      this.set(readCounts().pending);
    },
  });
  const capRefusals = new Counter({
    name: 'onair_ingest_connections_refused_total',
    help: 'RTMP/RTMPS connections refused at accept, by the cap that refused them (RTMP_MAX_*).',
    labelNames: ['cap'] as const,
    registers,
  });
  for (const cap of ['connections', 'connections_per_ip', 'pending', 'pending_per_ip']) capRefusals.inc({ cap }, 0);
  new Gauge({
    name: 'onair_ingest_connections',
    help: 'Open RTMP/RTMPS connections on this ingest, whatever they are doing.',
    registers,
    collect() {
      this.set(readCounts().connections);
    },
  });
  new Gauge({
    name: 'onair_ingest_paths',
    help: 'Stream paths the RTMP server keeps an entry for: a live publish has two (its key path and its internal alias); anything else is a leak.',
    registers,
    collect() {
      this.set(readCounts().paths);
    },
  });
  return {
    publishers: new Gauge({ name: 'onair_ingest_publishers', help: 'Publishers currently accepted and connected on this ingest.', registers }),
    receivedBytes: new Counter({ name: 'onair_ingest_received_bytes_total', help: 'Bytes received on RTMP/RTMPS connections.', registers }),
    publishesAccepted: new Counter({ name: 'onair_ingest_publishes_accepted_total', help: 'Publishes whose stream key was accepted.', registers }),
    publishesRefused: refused,
    readConnections(read) {
      readCounts = read;
    },
    connectionsRefused: capRefusals,
    pullersDropped: new Counter({
      name: 'onair_ingest_pullers_dropped_total',
      help: 'Internal pullers (workers\' ffmpeg) dropped because they stopped reading: more than the per-puller limit (8 MiB) was queued for them.',
      registers,
    }),
  };
}

function workerMetrics(registers: Registry[]): WorkerMetrics {
  const running = new Map<object, FfmpegSample & { profile: string }>();
  /** The slowest running transcode per profile: what an operator alerts on. */
  const lowest = (field: keyof FfmpegSample) => {
    const min = new Map<string, number>();
    for (const s of running.values()) {
      const v = s[field];
      if (v !== null && Number.isFinite(v)) min.set(s.profile, Math.min(v, min.get(s.profile) ?? Infinity));
    }
    return min;
  };
  new Gauge({
    name: 'onair_ffmpeg_speed_ratio',
    help: 'ffmpeg speed (1 = real time) of the slowest running transcode of each profile on this worker.',
    labelNames: ['profile'] as const,
    registers,
    collect() {
      this.reset();
      for (const [profile, v] of lowest('speed')) this.set({ profile }, v);
    },
  });
  new Gauge({
    name: 'onair_ffmpeg_fps',
    help: 'ffmpeg frames per second of the slowest running transcode of each profile on this worker.',
    labelNames: ['profile'] as const,
    registers,
    collect() {
      this.reset();
      for (const [profile, v] of lowest('fps')) this.set({ profile }, v);
    },
  });
  const connects = new Counter({
    name: 'onair_relay_connects_total',
    help: 'Relay connects to destinations by outcome: live (the destination accepted the publish) or failed (refused, unreachable, TLS, timed out).',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const outcome of RELAY_CONNECT_OUTCOMES) connects.inc({ outcome }, 0); // both show, at 0
  let readCounts: (() => Promise<Record<string, number>>) | null = null;
  new Gauge({
    name: 'onair_transcode_queue_jobs',
    help: 'Transcode jobs in the shared queue, by state (read at scrape time).',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      if (!readCounts) return;
      const counts = await readCounts().catch(() => null);
      if (!counts) return; // Redis away: the series go stale rather than report 0
      for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  return {
    activeJobs: new Gauge({ name: 'onair_transcode_active_jobs', help: 'Live transcodes running on this worker, by profile.', labelNames: ['profile'] as const, registers }),
    restarts: new Counter({ name: 'onair_transcode_restarts_total', help: 'ffmpeg restarts after it stopped on its own while the publisher was still there.', labelNames: ['profile'] as const, registers }),
    takeovers: new Counter({ name: 'onair_transcode_takeovers_total', help: 'Transcodes resumed from a previous run (another worker, a handover or a lost lease).', labelNames: ['profile'] as const, registers }),
    queueWaitSeconds: new Histogram({
      name: 'onair_transcode_queue_wait_seconds',
      help: 'Seconds a transcode job waited in the queue before a worker started it (first start only).',
      labelNames: ['profile'] as const,
      buckets: QUEUE_WAIT_BUCKETS,
      registers,
    }),
    segmentsWritten: new Counter({ name: 'onair_hls_segments_written_total', help: 'HLS segments written, by rendition name.', labelNames: ['rendition'] as const, registers }),
    firstSegmentSeconds: new Histogram({
      name: 'onair_hls_first_segment_seconds',
      help: 'Seconds from a fresh transcode job being enqueued to every rendition having its first segment (the stream goes live).',
      labelNames: ['profile'] as const,
      buckets: FIRST_SEGMENT_BUCKETS,
      registers,
    }),
    thumbnailsWritten: new Counter({ name: 'onair_thumbnails_written_total', help: 'Live stream thumbnails (JPEG) written to the media dir.', registers }),
    relaySentBytes: new Counter({ name: 'onair_relay_sent_bytes_total', help: 'Bytes this worker\'s relays sent to their destinations (all destinations together).', registers }),
    relayConnects: connects,
    relayKeyframeDrops: new Counter({
      name: 'onair_relay_keyframe_drops_total',
      help: 'Times a relay destination was slower than the source: its queue overflowed and was dropped up to the next key frame (the source and the other outputs did not wait).',
      registers,
    }),
    ffmpegReport(key, profile, sample) {
      running.set(key, { profile, speed: sample.speed, fps: sample.fps });
    },
    ffmpegForget(key) {
      running.delete(key);
    },
    setQueueCounts(read) {
      readCounts = read;
    },
  };
}

const BUILDERS: { [R in MetricsRole]: (registers: Registry[]) => RoleMetrics[R] } = {
  api: apiMetrics,
  ingest: ingestMetrics,
  worker: workerMetrics,
};

/** A fresh registry for one role process: Node process metrics plus the role's own. */
export function createMetrics<R extends MetricsRole>(role: R, o: { processMetrics?: boolean } = {}): Metrics<R> {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  if (o.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRICS_PREFIX });
  return { registry, role, metrics: BUILDERS[role]([registry]) as RoleMetrics[R] };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** True when the request carries `Authorization: Bearer <key>` (compared in constant time). */
export function metricsAuthorized(authorization: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(\S{1,4096})$/i.exec(authorization ?? '');
  return !!key && !!m && timingSafeEqual(digest(m[1]!), digest(key));
}

/** Answers a scrape: 401 without the key, else the registry in the text format. */
export async function answerScrape(registry: Registry, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!metricsAuthorized(req.headers.authorization, key)) {
    res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('Send Authorization: Bearer <INTERNAL_API_KEY>.\n');
    return;
  }
  try {
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType }).end(text);
  } catch {
    res.writeHead(500, { 'content-type': 'text/plain' }).end('Could not collect the metrics.\n');
  }
}

/** A small HTTP server of its own for roles without one (ingest, worker): GET /metrics only. */
export async function serveMetrics(o: { registry: Registry; key: string; host: string; port: number }): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: GET /metrics.\n');
    void answerScrape(o.registry, o.key, req, res);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 15_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
