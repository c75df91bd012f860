// What a rendition's packager measures over the session: the master playlist's BANDWIDTH (peak
// segment bit rate), AVERAGE-BANDWIDTH, CODECS, RESOLUTION and FRAME-RATE, and counters of
// conformance problems the caller should log (they come from publisher or ffmpeg settings).
import type { FragmentInfo } from './fragment.js';
import type { InitInfo } from './moov.js';
import type { LlConstants, SegmentInfo } from './types.js';

export interface RenditionStats {
  /** complete segments so far (0: nothing to measure, do not publish the master playlist yet) */
  segments: number;
  peakBitsPerSecond: number;
  averageBitsPerSecond: number;
  framesPerSecond: number;
  /** RFC 6381 strings of every track; empty when one is unknown (then CODECS is left out) */
  codecs: string[];
  width?: number;
  height?: number;
  /** parts longer than PART-TARGET (ffmpeg was asked for shorter ones; should stay 0) */
  overlongParts: number;
  /** segments whose rounded duration is above TARGETDURATION (a GOP longer than TD was fixed from) */
  overlongSegments: number;
  /** parts before the first independent one of a run (cannot start a segment) */
  droppedParts: number;
}

export class StatsCollector {
  private init: InitInfo | null = null;
  private bytes = 0;
  private seconds = 0;
  private peak = 0;
  private segments = 0;
  private overlongParts = 0;
  private overlongSegments = 0;
  private droppedParts = 0;
  /** per-part frame rates, the last 64 */
  private readonly rates: number[] = [];

  constructor(private readonly c: LlConstants) {}

  onInit(init: InitInfo): void {
    this.init = init;
  }

  onDroppedPart(): void {
    this.droppedParts += 1;
  }

  onPart(info: FragmentInfo): void {
    if (info.duration > this.c.partTarget + 1e-9) this.overlongParts += 1;
    if (info.frames > 1 && info.duration > 0) {
      // the median of per-part rates: the stretched first frame of a run and FLV's 33/34 ms
      // timestamps would skew a plain frames / seconds
      this.rates.push(info.frames / info.duration);
      if (this.rates.length > 64) this.rates.shift();
    }
  }

  onSegment(seg: SegmentInfo): void {
    this.segments += 1;
    this.bytes += seg.size;
    this.seconds += seg.duration;
    // EXTINF rounded must not exceed TARGETDURATION (RFC 8216bis §4.4.3.1): only an irregular
    // publisher GOP longer than the one TD was fixed from can cause it
    if (Math.round(seg.duration) > this.c.targetDuration) this.overlongSegments += 1;
    if (seg.duration > 0) this.peak = Math.max(this.peak, (seg.size * 8) / seg.duration);
  }

  result(): RenditionStats {
    const tracks = this.init ? [...this.init.tracks.values()] : [];
    return {
      segments: this.segments,
      peakBitsPerSecond: Math.round(this.peak),
      averageBitsPerSecond: this.seconds > 0 ? Math.round((this.bytes * 8) / this.seconds) : 0,
      framesPerSecond: median(this.rates),
      // all or nothing: a CODECS naming only the audio would tell players the rendition has no video
      codecs: tracks.every((t) => t.codec !== null) ? tracks.map((t) => t.codec!) : [],
      width: this.init?.video?.width,
      height: this.init?.video?.height,
      overlongParts: this.overlongParts,
      overlongSegments: this.overlongSegments,
      droppedParts: this.droppedParts,
    };
  }
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
