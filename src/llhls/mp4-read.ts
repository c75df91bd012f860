// Bounds-checked reading of the few ISO-BMFF boxes the packager needs (ISO/IEC 14496-12, -15 for
// avcC, -1/-3 for esds). Every out-of-range read becomes Mp4FormatError('malformed'), never a
// RangeError from Buffer.
import { Mp4FormatError } from './errors.js';

export interface ChildBox {
  type: string;
  /** the box's body (after its header), as a view of the parent's bytes */
  body: Buffer;
}

/** A cursor over a box body; every read checks the bounds. */
export class Reader {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly what: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new Mp4FormatError('malformed', `The ${this.what} box is shorter than its fields (${this.buf.length} bytes).`);
    }
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** 64-bit values as numbers: media timestamps stay far below 2^53 */
  u64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return Number(v);
  }
  i64(): number {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return Number(v);
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  /** version and flags of a FullBox */
  fullBox(): { version: number; flags: number } {
    const word = this.u32();
    return { version: word >>> 24, flags: word & 0xffffff };
  }
  fourcc(): string {
    this.need(4);
    const s = this.buf.toString('latin1', this.pos, this.pos + 4);
    this.pos += 4;
    return s;
  }
}

/** The child boxes laid one after another in `body` (from `start`). */
export function children(body: Buffer, what: string, start = 0): ChildBox[] {
  const out: ChildBox[] = [];
  let pos = start;
  while (pos < body.length) {
    if (pos + 8 > body.length) throw new Mp4FormatError('malformed', `A box inside ${what} is cut short.`);
    let size = body.readUInt32BE(pos);
    const type = body.toString('latin1', pos + 4, pos + 8);
    let header = 8;
    if (size === 1) {
      if (pos + 16 > body.length) throw new Mp4FormatError('malformed', `A box inside ${what} is cut short.`);
      size = Number(body.readBigUInt64BE(pos + 8));
      header = 16;
    } else if (size === 0) {
      size = body.length - pos;
    }
    if (size < header || pos + size > body.length) {
      throw new Mp4FormatError('malformed', `The '${type}' box inside ${what} runs past its parent.`);
    }
    out.push({ type, body: body.subarray(pos + header, pos + size) });
    pos += size;
  }
  return out;
}

export function child(body: Buffer, what: string, type: string): ChildBox | undefined {
  return children(body, what).find((c) => c.type === type);
}

export function requireChild(body: Buffer, what: string, type: string): ChildBox {
  const found = child(body, what, type);
  if (!found) throw new Mp4FormatError('malformed', `The ${what} box has no '${type}' box.`);
  return found;
}

/** Walks a path of single children, e.g. ['mdia', 'minf', 'stbl', 'stsd']. */
export function descend(body: Buffer, what: string, path: string[]): ChildBox {
  let box: ChildBox = { type: what, body };
  for (const type of path) box = requireChild(box.body, box.type, type);
  return box;
}
