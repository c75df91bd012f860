// A relay publisher's bounded queue. The FLV source is never made to wait: when the
// destination is slower than the source, the queue is capped (bytes and seconds) and, once
// over, everything queued is dropped and sending restarts at the next video key frame (a
// decoder cannot start anywhere else). Metadata and sequence headers are kept aside and sent
// again before the first frame after a (re)start, so a receiver can always decode.
import { TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, type FlvTag } from './flv-reader.js';

export interface TagQueueLimits {
  maxBytes: number;
  maxMs: number;
}

export const DEFAULT_QUEUE_LIMITS: TagQueueLimits = { maxBytes: 8 * 1024 * 1024, maxMs: 5_000 };

export class TagQueue {
  private items: FlvTag[] = [];
  private head = 0;
  private bytes = 0;
  private waitingForKeyframe = true; // a receiver starts at a key frame
  private headers = new Map<string, FlvTag>();
  private headersDue = true;
  /** Times the queue overflowed and was dropped up to the next key frame. */
  keyframeDrops = 0;
  droppedTags = 0;
  droppedBytes = 0;

  constructor(private readonly limits: TagQueueLimits = DEFAULT_QUEUE_LIMITS) {}

  get queuedBytes(): number {
    return this.bytes;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(tag: FlvTag): void {
    if (tag.type === TAG_SCRIPT || tag.sequenceHeader) {
      this.headers.set(tag.type === TAG_SCRIPT ? 'meta' : tag.type === TAG_VIDEO ? 'video' : 'audio', tag);
      this.headersDue = true;
      return;
    }
    if (this.waitingForKeyframe) {
      // an audio-only source (no video header) has no key frames: any audio tag is a start
      const startsHere = (tag.type === TAG_VIDEO && tag.keyframe) || (tag.type === TAG_AUDIO && !this.headers.has('video'));
      if (!startsHere) return this.drop(tag);
      this.waitingForKeyframe = false;
    }
    this.items.push(tag);
    this.bytes += tag.data.length;
    if (this.overLimit()) this.overflow(tag);
  }

  /** The next tags to send, in order (headers first when due); at most `max` media tags. */
  take(max: number): FlvTag[] {
    const out: FlvTag[] = [];
    if (this.length === 0) return out;
    if (this.headersDue) {
      for (const k of ['meta', 'video', 'audio']) {
        const h = this.headers.get(k);
        if (h) out.push(h);
      }
      this.headersDue = false;
    }
    while (this.length > 0 && max-- > 0) {
      const t = this.items[this.head++]!;
      this.bytes -= t.data.length;
      out.push(t);
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /**
   * The source starts over (a new ffmpeg run after a restart or handover): what is queued and the
   * old headers belong to the old run; the new run starts at its first key frame, headers first.
   */
  restart(): void {
    for (let i = this.head; i < this.items.length; i++) this.drop(this.items[i]!);
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.headers.clear();
    this.waitingForKeyframe = true;
    this.headersDue = true;
  }

  private overLimit(): boolean {
    if (this.bytes > this.limits.maxBytes) return true;
    const first = this.items[this.head];
    const last = this.items[this.items.length - 1];
    return !!first && !!last && last.timestamp - first.timestamp > this.limits.maxMs;
  }

  /** Drops all that is queued; keeps the newest tag if it is itself a key frame to start from. */
  private overflow(newest: FlvTag): void {
    this.keyframeDrops += 1;
    const restartHere = (newest.type === TAG_VIDEO && newest.keyframe) || (newest.type === TAG_AUDIO && !this.headers.has('video'));
    for (let i = this.head; i < this.items.length; i++) {
      const t = this.items[i]!;
      if (restartHere && t === newest) continue;
      this.droppedTags += 1;
      this.droppedBytes += t.data.length;
    }
    this.items = restartHere ? [newest] : [];
    this.head = 0;
    this.bytes = restartHere ? newest.data.length : 0;
    this.waitingForKeyframe = !restartHere;
    this.headersDue = true;
  }

  private drop(tag: FlvTag): void {
    this.droppedTags += 1;
    this.droppedBytes += tag.data.length;
  }
}
