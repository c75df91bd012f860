// Pure: cuts the byte stream of ffmpeg's `-f image2pipe -c:v mjpeg` output into whole JPEGs.
// ffmpeg writes the pictures back to back with nothing between them, and a pipe hands them over
// in chunks of any size, so a picture may arrive in pieces or several in one chunk.
//
// A picture is found by walking its markers, not by searching for the end-of-image bytes: the
// bytes FF D9 may sit inside a header segment (an APPn payload, an embedded EXIF thumbnail),
// never inside entropy-coded data (where an FF byte is always followed by 00 or a restart marker).
// So: SOI, then length-prefixed segments up to SOS, then entropy data until the next real marker,
// and so on until EOI. Bytes that do not fit are skipped up to the next SOI (resync), and a
// picture that grows past `maxFrameBytes` is dropped: the buffer never holds more than one such
// picture plus one chunk, whatever ffmpeg (or a broken pipe) sends.

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const TEM = 0x01;

type State = 'seek' | 'segments' | 'scan';

export interface SplitterCounts {
  /** Whole pictures handed out. */
  frames: number;
  /** Pictures dropped for being larger than maxFrameBytes. */
  oversized: number;
  /** Bytes skipped because they were not part of a well-formed picture. */
  skippedBytes: number;
}

export class JpegSplitter {
  private buf: Buffer = Buffer.alloc(0);
  /** How far into `buf` the current picture has been understood (buf[0] is its SOI in 'segments'/'scan'). */
  private pos = 0;
  private state: State = 'seek';
  readonly counts: SplitterCounts = { frames: 0, oversized: 0, skippedBytes: 0 };

  constructor(private readonly maxFrameBytes = 4 * 1024 * 1024) {
    if (!(maxFrameBytes >= 4)) throw new Error('maxFrameBytes must be at least 4');
  }

  /** Bytes held for a picture not complete yet. */
  get pendingBytes(): number {
    return this.buf.length;
  }

  /** Takes the next chunk of the pipe; returns the pictures it completed, in order (copies). */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      const frame = this.step();
      if (frame === 'more') break;
      if (frame) out.push(frame);
    }
    if (this.state !== 'seek' && this.buf.length > this.maxFrameBytes) {
      // a picture this large is not a thumbnail: drop it and look for the next one
      this.counts.oversized += 1;
      this.skip(this.buf.length);
      this.state = 'seek';
    }
    return out;
  }

  /** One move of the state machine: a picture, null (progress made), or 'more' (needs bytes). */
  private step(): Buffer | null | 'more' {
    const b = this.buf;
    if (this.state === 'seek') {
      for (let i = this.pos; i + 1 < b.length; i++) {
        if (b[i] === 0xff && b[i + 1] === SOI) {
          this.skip(i);
          this.pos = 2;
          this.state = 'segments';
          return null;
        }
      }
      // keep a trailing FF: it may be the first half of an SOI
      const keep = b.length > 0 && b[b.length - 1] === 0xff ? 1 : 0;
      this.skip(b.length - keep);
      return 'more';
    }
    if (this.state === 'scan') {
      for (let i = this.pos; i + 1 < b.length; i++) {
        if (b[i] !== 0xff) continue;
        const next = b[i + 1]!;
        // stuffed zero, restart marker, or a fill byte before a marker: still entropy data
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) continue;
        this.pos = i;
        this.state = 'segments';
        return null;
      }
      this.pos = Math.max(this.pos, b.length - 1);
      return 'more';
    }
    // 'segments': a marker is due at pos (fill bytes FF may come first)
    let p = this.pos;
    while (p + 1 < b.length && b[p] === 0xff && b[p + 1] === 0xff) p++;
    if (p + 1 >= b.length) return 'more';
    if (b[p] !== 0xff) return this.resync();
    const marker = b[p + 1]!;
    if (marker === EOI) {
      const frame = Buffer.from(b.subarray(0, p + 2));
      this.counts.frames += 1;
      this.buf = b.subarray(p + 2);
      this.pos = 0;
      this.state = 'seek';
      return frame;
    }
    if (marker === SOI) return this.resync(); // a new picture before this one ended
    if (marker === TEM || (marker >= 0xd0 && marker <= 0xd7)) {
      this.pos = p + 2; // markers without a length
      return null;
    }
    if (p + 3 >= b.length) return 'more';
    const length = b.readUInt16BE(p + 2);
    if (length < 2) return this.resync();
    // entropy-coded data follows the scan header; the segment may not be all here yet (then
    // pos points past the end and the next bytes are awaited; push's size check bounds the wait)
    this.pos = p + 2 + length;
    if (marker === SOS) this.state = 'scan';
    return this.pos > b.length ? 'more' : null;
  }

  /**
   * The picture being read is broken: look for the next SOI right after its own. Not after the
   * place the break was noticed: a picture cut short makes its last length-prefixed segment
   * swallow the start of the next picture, which must still be found.
   */
  private resync(): null {
    this.skip(2);
    this.state = 'seek';
    return null;
  }

  /** Forgets the first n bytes (counted as skipped), restarting the search at the new start. */
  private skip(n: number): void {
    if (n <= 0) return;
    this.counts.skippedBytes += n;
    this.buf = this.buf.subarray(n);
    this.pos = 0;
  }
}
