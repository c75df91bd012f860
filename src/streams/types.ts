/** A stream's states: offline → starting → live → reconnecting (publisher away, within its grace) → live | offline | failed. */
export const STREAM_STATUSES = ['offline', 'starting', 'live', 'reconnecting', 'failed'] as const;
export type StreamStatus = (typeof STREAM_STATUSES)[number];
/** The states in which a broadcast is on (a publish is open and viewers are, or soon will be, watching). */
export const ON_AIR_STATUSES: readonly StreamStatus[] = ['starting', 'live', 'reconnecting'];

export interface Rendition {
  name: string;
  width: number;
  height: number;
  bandwidth: number;
  codecs: string;
  frameRate: number;
  passthrough: boolean;
}

export interface TranscodeProgress {
  fps: number | null;
  speed: number | null;
  bitrateKbps: number | null;
  outTimeSeconds: number | null;
  updatedAt: string;
}

export interface Stream {
  id: string;
  title: string;
  playbackId: string;
  profile: string;
  enabled: boolean;
  status: StreamStatus;
  statusReason: string | null;
  currentPublishSessionId: string | null;
  renditions: Rendition[];
  progress: TranscodeProgress | null;
  createdAt: Date;
  updatedAt: Date;
  /** Publishes are refused until then (an operator's stop); null when not stopped. */
  stoppedUntil: Date | null;
  /** Whether its publishes are recorded; null: the configured default (RECORD_BY_DEFAULT). */
  record: boolean | null;
  /** Low-latency mode (LL-HLS with the ladder): read as each publish starts. */
  lowLatency: boolean;
}

/** What the ingest learned about the publisher's media before a job is enqueued. */
export interface SourceInfo {
  videoCodec: string; // 'h264', 'hevc', 'av1', 'vp9', or 'flv:<id>'
  audioCodec: string | null; // 'aac', 'mp3', … or null when there is no audio
  width: number | null;
  height: number | null;
  fps: number | null;
  videoBitrateKbps: number | null;
  audioBitrateKbps: number | null;
  avcProfile: { profileIdc: number; constraints: number; levelIdc: number } | null;
  /**
   * The publisher's keyframe interval and whether it sends B-frames, as the ingest measured them
   * (low-latency streams: absent or null = not measured). Low-latency mode passes the top rung
   * through only with keyframes at most LL_COPY_MAX_GOP_SECONDS apart.
   */
  keyframeIntervalSeconds?: number | null;
  /** No second keyframe came within this many seconds of the first (the GOP is longer). */
  keyframeIntervalAtLeastSeconds?: number | null;
  bFrames?: boolean | null;
}

export interface PublishGrant {
  streamId: string;
  publishSessionId: string;
  playbackId: string;
  profile: string;
  /** Which connection of the publish this is: 1, then one more for each reconnect or takeover that continued it. */
  connection: number;
  /**
   * Low-latency mode: the stream's switch for a new publish, the publish's own mode for a
   * continued one. The ingest then measures the publisher's GOP before queueing (or feeding) the transcode.
   */
  lowLatency: boolean;
}

/** What a worker pulls for a publish's current connection (written when its source is known). */
export interface PublishFeed {
  connection: number;
  pullUrl: string;
  source: SourceInfo;
}

/** Payload of a live-transcode job. No secret is in it: the worker signs its own pull. */
export interface LiveTranscodeJob {
  streamId: string;
  publishSessionId: string;
  playbackId: string;
  profile: string;
  pullUrl: string; // rtmp://ingest:port/internal/<publishSessionId> (signature added by the worker)
  source: SourceInfo;
  /** Whether the publish is recorded (the stream's setting or the configured default, when it was queued); absent: not recorded. */
  record?: boolean;
  /** Whether the publish runs in low-latency mode (the stream's switch when it was queued); absent: standard HLS. */
  lowLatency?: boolean;
}
