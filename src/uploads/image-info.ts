// What an uploaded image really is, from its bytes alone: the type by its magic bytes, the size
// from its header, and whether the file is whole (its end marker is there). Nothing is decoded:
// the browser decodes the image, the appliance only refuses what is not the kind of file it says.
// SVG is never an image here: it is a document that can carry script.

export const IMAGE_TYPES = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
} as const;

export type ImageType = keyof typeof IMAGE_TYPES;
export type ImageExt = (typeof IMAGE_TYPES)[ImageType];

export interface ImageInfo {
  type: ImageType;
  width: number;
  height: number;
}

/** Why the bytes are not an image we take, in words for the uploader. */
export type ImageProblem = { kind: 'unknown' } | { kind: 'truncated'; type: ImageType } | { kind: 'unreadable'; type: ImageType };

const startsWith = (b: Buffer, bytes: number[], at = 0) => b.length >= at + bytes.length && bytes.every((x, i) => b[at + i] === x);

/** The type the magic bytes say, or null for anything else (SVG, text, other formats). */
export function sniffImageType(b: Buffer): ImageType | null {
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(b, [0x47, 0x49, 0x46, 0x38]) && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61) return 'image/gif';
  if (b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

/** Reads the type and dimensions; a problem when the bytes are no image we take, or cut short. */
export function readImageInfo(b: Buffer): ImageInfo | ImageProblem {
  const type = sniffImageType(b);
  if (!type) return { kind: 'unknown' };
  const read = { 'image/png': png, 'image/jpeg': jpeg, 'image/gif': gif, 'image/webp': webp }[type];
  let size: { width: number; height: number } | 'truncated' | null;
  try {
    size = read(b);
  } catch {
    // a RangeError from reading past the end: the header itself is cut short
    size = 'truncated';
  }
  if (size === 'truncated') return { kind: 'truncated', type };
  if (!size) return { kind: 'unreadable', type };
  return { type, ...size };
}

function png(b: Buffer) {
  // signature, then the IHDR chunk first (length 13), and an IEND chunk last
  if (b.length < 33) return 'truncated';
  if (b.readUInt32BE(8) !== 13 || b.toString('latin1', 12, 16) !== 'IHDR') return null;
  if (b.length < 45 || b.toString('latin1', b.length - 8, b.length - 4) !== 'IEND') return 'truncated';
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

function jpeg(b: Buffer) {
  // walk the marker segments to the first start-of-frame; the file ends with EOI (FF D9)
  let size: { width: number; height: number } | null = null;
  let at = 2;
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // markers without a length
      continue;
    }
    const length = b.readUInt16BE(at + 2);
    if (length < 2) return null;
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof) {
      if (at + 9 > b.length) return 'truncated';
      size = { height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7) };
      break;
    }
    if (marker === 0xda || marker === 0xd9) return null; // scan or end before any frame header
    at += 2 + length;
  }
  if (!size) return 'truncated';
  if (b[b.length - 2] !== 0xff || b[b.length - 1] !== 0xd9) return 'truncated';
  return size;
}

function gif(b: Buffer) {
  if (b.length < 13) return 'truncated';
  if (b[b.length - 1] !== 0x3b) return 'truncated'; // the trailer
  return { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
}

function webp(b: Buffer) {
  // RIFF's size counts everything after its first 8 bytes: fewer bytes than that is a cut file
  if (b.length < 30) return 'truncated';
  if (b.readUInt32LE(4) + 8 > b.length) return 'truncated';
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8 ') {
    if (!startsWith(b, [0x9d, 0x01, 0x2a], 23)) return null;
    return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  }
  if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) return null;
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') {
    return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  }
  return null;
}
