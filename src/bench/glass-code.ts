// bench:glass's picture code: the moment a frame left the publisher, drawn into the frame as
// big black/white blocks that survive scaling to 360p and lossy compression, and read back
// off the video in the browser. 48 blocks in 2 rows of 24 across the top of the picture:
// 32 bits of the send time (Date.now() modulo 2^32 ms, ≈ 49.7 days; the reader unwraps it
// with its own clock, which is the same machine's) and a CRC-16 of them, so a misread frame
// (a block smeared by scaling, a half-decoded frame) is rejected instead of measured.

export const CODE_COLUMNS = 24;
export const CODE_ROWS = 2;
/** Each code row is this fraction of the picture height (1/12: 60 px at 720p, 30 px at 360p). */
export const CODE_ROW_FRACTION = 1 / 12;
const LUMA_BLACK = 16;
const LUMA_WHITE = 235;
const TWO32 = 4294967296;

/** CRC-16/CCITT-FALSE of the 4 bytes of a uint32 (pure). */
export function crc16(value: number): number {
  let crc = 0xffff;
  for (let i = 3; i >= 0; i--) {
    crc ^= ((Math.floor(value / 2 ** (8 * i)) & 0xff) << 8) & 0xffff;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The 48 bits of a code, row-major, most significant bit first: 32 of value, 16 of its CRC. */
export function codeBits(value: number): number[] {
  const v = value % TWO32;
  const crc = crc16(v);
  const bits: number[] = [];
  for (let i = 31; i >= 0; i--) bits.push(Math.floor(v / 2 ** i) % 2);
  for (let i = 15; i >= 0; i--) bits.push((crc >> i) & 1);
  return bits;
}

/** Draws the code of `value` into the luma plane (width × height, one byte a pixel) of a frame. */
export function drawCode(luma: Buffer, o: { width: number; height: number; value: number }): void {
  const bits = codeBits(o.value);
  const rowHeight = Math.floor(o.height * CODE_ROW_FRACTION);
  for (let r = 0; r < CODE_ROWS; r++) {
    for (let c = 0; c < CODE_COLUMNS; c++) {
      const x0 = Math.floor((c * o.width) / CODE_COLUMNS);
      const x1 = Math.floor(((c + 1) * o.width) / CODE_COLUMNS);
      const level = bits[r * CODE_COLUMNS + c] ? LUMA_WHITE : LUMA_BLACK;
      for (let y = r * rowHeight; y < (r + 1) * rowHeight; y++) luma.fill(level, y * o.width + x0, y * o.width + x1);
    }
  }
}

/**
 * Reads a code back: `lum(x, y)` gives the brightness (0–255) of a pixel of a picture of
 * width × height. Returns the 32-bit value, or null when the picture carries no valid code.
 *
 * Self-contained on purpose (no imports, no module-level names): the bench page gets this very
 * function's source text, so the browser decodes with the code the unit test checks.
 */
export function readCode(lum: (x: number, y: number) => number, width: number, height: number): number | null {
  const columns = 24;
  const rowHeight = height / 12;
  const means: number[] = [];
  for (let r = 0; r < 2; r++) {
    for (let c = 0; c < columns; c++) {
      // the middle half of the block, 4 × 4 samples: edges smear under scaling and compression
      const bx = (c * width) / columns;
      const bw = width / columns;
      const by = r * rowHeight;
      let sum = 0;
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) sum += lum(Math.floor(bx + bw * (0.25 + (0.5 * i) / 3)), Math.floor(by + rowHeight * (0.25 + (0.5 * j) / 3)));
      }
      means.push(sum / 16);
    }
  }
  const lo = Math.min(...means);
  const hi = Math.max(...means);
  if (hi - lo < 80) return null; // no black/white code in this picture
  const threshold = (lo + hi) / 2;
  for (const m of means) if (Math.abs(m - threshold) < (hi - lo) / 6) return null; // a grey block: misread
  const bits = means.map((m) => (m > threshold ? 1 : 0));
  let value = 0;
  for (let i = 0; i < 32; i++) value = value * 2 + bits[i]!;
  let crc = 0;
  for (let i = 32; i < 48; i++) crc = crc * 2 + bits[i]!;
  let check = 0xffff;
  for (let i = 3; i >= 0; i--) {
    check ^= ((Math.floor(value / 2 ** (8 * i)) & 0xff) << 8) & 0xffff;
    for (let b = 0; b < 8; b++) check = check & 0x8000 ? ((check << 1) ^ 0x1021) & 0xffff : (check << 1) & 0xffff;
  }
  return check === crc ? value : null;
}

/** The code of a send time: its milliseconds modulo 2^32. */
export function codeOfTime(ms: number): number {
  return Math.floor(ms) % TWO32;
}

/** The send time a code stands for, as seen at `nowMs` (the latest time ≤ now with that code). Self-contained like readCode (the page gets its source). */
export function timeOfCode(code: number, nowMs: number): number {
  const wrap = 4294967296;
  const back = (((Math.floor(nowMs) % wrap) - code) % wrap + wrap) % wrap;
  return Math.floor(nowMs) - back;
}
