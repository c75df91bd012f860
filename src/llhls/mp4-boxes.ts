// An incremental top-level ISO-BMFF box splitter for a fragmented-MP4 byte stream that arrives in
// chunks of any size (an ffmpeg pipe). push() returns the boxes completed by the chunk, each as its
// own bytes (header included), so that a part file is just moof.bytes + mdat.bytes.
//
// Memory stays bounded: a box whose declared size is above `maxBoxBytes` is refused as soon as its
// header is seen, before its body is buffered. After any error the splitter stays failed (every
// later call throws the same error): a byte stream that lost its framing cannot be resynchronised.
import { Mp4FormatError } from './errors.js';

export interface Mp4Box {
  /** four-character type, e.g. 'moof' */
  readonly type: string;
  /** the whole box: header + body */
  readonly bytes: Buffer;
  /** 8, or 16 for a 64-bit size */
  readonly headerSize: number;
}

/** 32 MiB: a 200 ms fragment of a 6 Mb/s rung is ~150 KB; even a whole 8 s GOP at 20 Mb/s fits. */
export const DEFAULT_MAX_BOX_BYTES = 32 * 1024 * 1024;

export class BoxSplitter {
  private readonly maxBoxBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** size of the box at the head of the buffer, once its header has been read */
  private pendingSize: number | null = null;
  private failure: Mp4FormatError | null = null;
  /** bytes consumed before the buffer head, for error messages */
  private offset = 0;

  constructor(options: { maxBoxBytes?: number } = {}) {
    this.maxBoxBytes = options.maxBoxBytes ?? DEFAULT_MAX_BOX_BYTES;
  }

  /** Feeds bytes; returns the boxes they completed (possibly none). Throws Mp4FormatError. */
  push(chunk: Uint8Array): Mp4Box[] {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.buffered += chunk.length;
    }
    const out: Mp4Box[] = [];
    try {
      for (;;) {
        if (this.pendingSize === null) {
          const size = this.readHeaderSize();
          if (size === null) break;
          this.pendingSize = size;
        }
        if (this.buffered < this.pendingSize) break;
        out.push(this.takeBox(this.pendingSize));
        this.pendingSize = null;
      }
    } catch (err) {
      if (err instanceof Mp4FormatError) this.failure = err;
      throw err;
    }
    return out;
  }

  /** The stream ended: throws 'truncated' if it ended inside a box. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.buffered > 0) {
      this.failure = new Mp4FormatError(
        'truncated',
        `The MP4 stream ended inside a box (${this.buffered} bytes left over at offset ${this.offset}).`,
      );
      throw this.failure;
    }
  }

  /** Bytes held while waiting for the rest of a box. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  private head(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) return first;
    const joined = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [joined];
    return joined;
  }

  private readHeaderSize(): number | null {
    if (this.buffered < 8) return null;
    let buf = this.head(8);
    const size32 = buf.readUInt32BE(0);
    const type = buf.subarray(4, 8);
    if (!isFourCC(type)) {
      throw new Mp4FormatError('malformed', `Not an MP4 box at offset ${this.offset}: the type bytes are not a four-character code.`);
    }
    if (!TOP_LEVEL.has(type.toString('latin1'))) {
      throw new Mp4FormatError('malformed', `Not a fragmented-MP4 stream: a top-level box of type ${typeName(type)} at offset ${this.offset}.`);
    }
    let size: number;
    let headerSize = 8;
    if (size32 === 1) {
      if (this.buffered < 16) return null;
      buf = this.head(16);
      const big = buf.readBigUInt64BE(8);
      size = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
      headerSize = 16;
    } else if (size32 === 0) {
      // "extends to the end of the file" has no end in a live stream
      throw new Mp4FormatError('malformed', `The ${typeName(type)} box at offset ${this.offset} has size 0 (to end of file), which a live stream cannot use.`);
    } else {
      size = size32;
    }
    if (size < headerSize) {
      throw new Mp4FormatError('malformed', `The ${typeName(type)} box at offset ${this.offset} declares ${size} bytes, less than its own header.`);
    }
    if (size > this.maxBoxBytes) {
      throw new Mp4FormatError('too_large', `The ${typeName(type)} box at offset ${this.offset} declares ${size} bytes, above the limit of ${this.maxBoxBytes}.`);
    }
    return size;
  }

  private takeBox(size: number): Mp4Box {
    const buf = this.head(size);
    const bytes = Buffer.from(buf.subarray(0, size)); // a copy: the rest of the chunk may be large
    const rest = buf.subarray(size);
    this.chunks.shift();
    if (rest.length > 0) this.chunks.unshift(rest);
    this.buffered -= size;
    this.offset += size;
    const headerSize = bytes.readUInt32BE(0) === 1 ? 16 : 8;
    return { type: bytes.toString('latin1', 4, 8), bytes, headerSize };
  }
}

/**
 * The top-level boxes of ISO/IEC 14496-12 (and 23001-18 emsg) that may appear in a file or a
 * fragmented stream. Anything else at the top level means the bytes are not MP4 at all (or the
 * framing was lost), which is better said at once than after buffering a "box" of random size.
 */
const TOP_LEVEL = new Set(['ftyp', 'styp', 'moov', 'moof', 'mdat', 'mfra', 'free', 'skip', 'sidx', 'ssix', 'prft', 'emsg', 'meta', 'uuid', 'pdin', 'wide', 'udta']);

function isFourCC(b: Buffer): boolean {
  for (const c of b) if (c < 0x20 || c > 0x7e) return false;
  return true;
}

function typeName(b: Buffer): string {
  return `'${b.toString('latin1')}'`;
}
