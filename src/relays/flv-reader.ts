// A pure, incremental FLV tag reader: ffmpeg writes the source as FLV into a pipe
// (`-c copy -f flv pipe:N`) and the relay publishers send its tags as RTMP messages. Bytes go
// in as they arrive (any split), whole tags come out. No I/O here, so it is tested on bytes.

export const TAG_AUDIO = 8;
export const TAG_VIDEO = 9;
export const TAG_SCRIPT = 18;

export interface FlvTag {
  type: typeof TAG_AUDIO | typeof TAG_VIDEO | typeof TAG_SCRIPT;
  /** Milliseconds (FLV's 24 bits plus the extension byte). */
  timestamp: number;
  data: Buffer;
  /** A video key frame (frame type 1), where a receiver can start decoding. */
  keyframe: boolean;
  /** AVC/AAC sequence header (decoder configuration): a receiver needs it before any frame. */
  sequenceHeader: boolean;
}

export class FlvFormatError extends Error {}

const HEADER_BYTES = 9;
const TAG_HEADER_BYTES = 11;
const PREV_SIZE_BYTES = 4;
/** No real tag comes near this; a larger one means the stream is not FLV (or corrupt). */
export const MAX_TAG_BYTES = 8 * 1024 * 1024;

export function describeTag(o: { type: number; data: Buffer }): { keyframe: boolean; sequenceHeader: boolean } {
  const first = o.data[0] ?? 0;
  if (o.type === TAG_VIDEO) {
    const keyframe = first >> 4 === 1;
    // codec 7 = AVC, 12 = HEVC (enhanced FLV uses other layouts; they are passed through as frames)
    const avc = (first & 0x0f) === 7 || (first & 0x0f) === 12;
    return { keyframe, sequenceHeader: avc && o.data[1] === 0 };
  }
  if (o.type === TAG_AUDIO) return { keyframe: false, sequenceHeader: first >> 4 === 10 && o.data[1] === 0 };
  return { keyframe: false, sequenceHeader: false };
}

export class FlvReader {
  private buf: Buffer = Buffer.alloc(0);
  private headerDone = false;

  /** Feeds bytes; returns every tag completed by them. Throws FlvFormatError on a stream that is not FLV. */
  push(chunk: Buffer): FlvTag[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const tags: FlvTag[] = [];
    if (!this.headerDone) {
      if (this.buf.length < HEADER_BYTES + PREV_SIZE_BYTES) return tags;
      if (this.buf.toString('latin1', 0, 3) !== 'FLV') throw new FlvFormatError('the relay input is not FLV (no FLV signature)');
      const headerSize = this.buf.readUInt32BE(5);
      if (headerSize < HEADER_BYTES || headerSize > 1024) throw new FlvFormatError(`the relay input has an FLV header of ${headerSize} bytes`);
      if (this.buf.length < headerSize + PREV_SIZE_BYTES) return tags;
      this.buf = this.buf.subarray(headerSize + PREV_SIZE_BYTES);
      this.headerDone = true;
    }
    let off = 0;
    while (this.buf.length - off >= TAG_HEADER_BYTES) {
      const type = this.buf[off]! & 0x1f; // the top bits are reserved/filter flags
      const size = this.buf.readUIntBE(off + 1, 3);
      if (size > MAX_TAG_BYTES) throw new FlvFormatError(`the relay input has an FLV tag of ${size} bytes`);
      const total = TAG_HEADER_BYTES + size + PREV_SIZE_BYTES;
      if (this.buf.length - off < total) break;
      const timestamp = (this.buf.readUIntBE(off + 4, 3) | (this.buf[off + 7]! << 24)) >>> 0;
      // copy: the tag outlives this buffer (queues), and must not pin the whole read chunk
      const data = Buffer.from(this.buf.subarray(off + TAG_HEADER_BYTES, off + TAG_HEADER_BYTES + size));
      off += total;
      if (type !== TAG_AUDIO && type !== TAG_VIDEO && type !== TAG_SCRIPT) continue; // unknown tags are skipped
      tags.push({ type, timestamp, data, ...describeTag({ type, data }) });
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return tags;
  }
}

/** Builds FLV bytes (header + tags): tests, and anything that writes FLV by hand. */
export function flvBytes(tags: { type: number; timestamp: number; data: Buffer }[]): Buffer {
  const header = Buffer.from([0x46, 0x4c, 0x56, 0x01, 0x05, 0, 0, 0, 9, 0, 0, 0, 0]);
  const parts: Buffer[] = [header];
  for (const t of tags) {
    const h = Buffer.alloc(TAG_HEADER_BYTES);
    h[0] = t.type;
    h.writeUIntBE(t.data.length, 1, 3);
    h.writeUIntBE(t.timestamp & 0xffffff, 4, 3);
    h[7] = (t.timestamp >>> 24) & 0xff;
    const prev = Buffer.alloc(4);
    prev.writeUInt32BE(TAG_HEADER_BYTES + t.data.length);
    parts.push(h, t.data, prev);
  }
  return Buffer.concat(parts);
}
