// Pure: measures a publisher's keyframe interval and whether it sends B-frames, from the video
// packets as they arrive (their FLV timestamps, not the wall clock). Low-latency mode needs both
// before the transcode starts: a passed-through rung cuts its segments at the publisher's
// keyframes (at most LL_COPY_MAX_GOP_SECONDS apart), and B-frames add reorder delay and put the
// copy rung a frame off the encoded ones (LL-HLS-NOTES.md §2.2, §5).

export interface GopMeasure {
  /** Seconds between the first two keyframes; null when the second did not come within `giveUpSeconds`. */
  keyframeIntervalSeconds: number | null;
  /** With no second keyframe: how long was waited for it (the GOP is longer). */
  atLeastSeconds: number | null;
  /** Some frame of the GOP had a composition offset (a B-frame reorders). */
  bFrames: boolean;
}

const FRAME_KEY = 1;
const AVC = 7;
const AVC_NALU = 1;

/**
 * The composition time offset (ms) of an FLV AVC video packet (the tag's data: frame type and
 * codec, packet type, CTS), or null for anything else (a sequence header, another codec, too short).
 */
export function avcCompositionTime(data: Buffer): number | null {
  if (data.length < 5 || (data[0]! & 0x80) !== 0) return null; // Enhanced RTMP: not the classic AVC tag
  if ((data[0]! & 0x0f) !== AVC || data[1] !== AVC_NALU) return null;
  return data.readIntBE(2, 3);
}

/** Whether an FLV video packet is a keyframe (frame type 1), sequence headers excluded. */
export function isKeyframePacket(data: Buffer): boolean {
  if (data.length < 2) return false;
  const frameType = (data[0]! >> 4) & 0x07;
  if (frameType !== FRAME_KEY) return false;
  // a classic AVC sequence header is frame type 1 too
  return (data[0]! & 0x80) !== 0 || (data[0]! & 0x0f) !== AVC || data[1] === AVC_NALU;
}

export class GopMeter {
  private first: number | null = null;
  private bFrames = false;
  private result: GopMeasure | null = null;

  constructor(private readonly giveUpSeconds: number) {}

  /** One video packet (its dts in ms and its FLV data). Returns the measure once it is known. */
  feed(dts: number, data: Buffer): GopMeasure | null {
    if (this.result) return this.result;
    const cts = avcCompositionTime(data);
    const key = isKeyframePacket(data);
    if (this.first === null) {
      if (!key) return null; // measured from a keyframe on
      this.first = dts;
    } else if (key && dts > this.first) {
      this.result = { keyframeIntervalSeconds: Math.round(dts - this.first) / 1000, atLeastSeconds: null, bFrames: this.bFrames || (cts !== null && cts !== 0) };
      return this.result;
    }
    if (cts !== null && cts !== 0) this.bFrames = true;
    if (dts - this.first > this.giveUpSeconds * 1000) {
      this.result = { keyframeIntervalSeconds: null, atLeastSeconds: Math.round(dts - this.first) / 1000, bFrames: this.bFrames };
    }
    return this.result;
  }

  measured(): GopMeasure | null {
    return this.result;
  }
}
