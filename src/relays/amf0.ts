// AMF0, the encoding of RTMP commands: what a publisher sends (connect, publish, …) and the
// server's answers it reads (_result, onStatus). Only the types RTMP servers use.

export type Amf0 = string | number | boolean | null | undefined | Amf0[] | { [k: string]: Amf0 };

export class Amf0Error extends Error {}

function str(s: string, long = false): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(long ? 4 : 2);
  if (long) len.writeUInt32BE(b.length);
  else len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

export function encodeAmf0(value: Amf0): Buffer {
  if (value === null) return Buffer.from([0x05]);
  if (value === undefined) return Buffer.from([0x06]);
  if (typeof value === 'number') {
    const b = Buffer.alloc(9);
    b.writeDoubleBE(value, 1);
    return b;
  }
  if (typeof value === 'boolean') return Buffer.from([0x01, value ? 1 : 0]);
  if (typeof value === 'string') {
    const long = Buffer.byteLength(value) > 0xffff;
    return Buffer.concat([Buffer.from([long ? 0x0c : 0x02]), str(value, long)]);
  }
  if (Array.isArray(value)) {
    const n = Buffer.alloc(5);
    n[0] = 0x0a;
    n.writeUInt32BE(value.length, 1);
    return Buffer.concat([n, ...value.map(encodeAmf0)]);
  }
  const parts: Buffer[] = [Buffer.from([0x03])];
  for (const [k, v] of Object.entries(value)) parts.push(str(k), encodeAmf0(v));
  parts.push(Buffer.from([0x00, 0x00, 0x09]));
  return Buffer.concat(parts);
}

export const encodeAmf0All = (...values: Amf0[]) => Buffer.concat(values.map(encodeAmf0));

/** Decodes every value of a payload (a command: name, transaction id, then arguments). */
export function decodeAmf0All(buf: Buffer): Amf0[] {
  const out: Amf0[] = [];
  let off = 0;
  while (off < buf.length) {
    const [v, next] = decodeAt(buf, off, 0);
    out.push(v);
    off = next;
  }
  return out;
}

function need(buf: Buffer, off: number, n: number): void {
  if (off + n > buf.length) throw new Amf0Error('AMF0 value cut short');
}

function readKey(buf: Buffer, off: number): [string, number] {
  need(buf, off, 2);
  const len = buf.readUInt16BE(off);
  need(buf, off + 2, len);
  return [buf.toString('utf8', off + 2, off + 2 + len), off + 2 + len];
}

function readProps(buf: Buffer, start: number, depth: number): [{ [k: string]: Amf0 }, number] {
  const obj: { [k: string]: Amf0 } = {};
  let off = start;
  for (;;) {
    const [key, afterKey] = readKey(buf, off);
    need(buf, afterKey, 1);
    if (key === '' && buf[afterKey] === 0x09) return [obj, afterKey + 1];
    const [v, next] = decodeAt(buf, afterKey, depth + 1);
    obj[key] = v;
    off = next;
  }
}

function decodeAt(buf: Buffer, off: number, depth: number): [Amf0, number] {
  if (depth > 32) throw new Amf0Error('AMF0 nested too deep');
  need(buf, off, 1);
  const marker = buf[off]!;
  const p = off + 1;
  switch (marker) {
    case 0x00:
      need(buf, p, 8);
      return [buf.readDoubleBE(p), p + 8];
    case 0x01:
      need(buf, p, 1);
      return [buf[p] !== 0, p + 1];
    case 0x02:
      return readKey(buf, p);
    case 0x03:
      return readProps(buf, p, depth);
    case 0x05:
      return [null, p];
    case 0x06:
      return [undefined, p];
    case 0x08: // ECMA array: a count (a hint only), then properties like an object
      need(buf, p, 4);
      return readProps(buf, p + 4, depth);
    case 0x0a: {
      need(buf, p, 4);
      const n = buf.readUInt32BE(p);
      const arr: Amf0[] = [];
      let o = p + 4;
      for (let i = 0; i < n; i++) {
        const [v, next] = decodeAt(buf, o, depth + 1);
        arr.push(v);
        o = next;
      }
      return [arr, o];
    }
    case 0x0b: // date: 8-byte ms + 2-byte time zone
      need(buf, p, 10);
      return [buf.readDoubleBE(p), p + 10];
    case 0x0c: {
      need(buf, p, 4);
      const len = buf.readUInt32BE(p);
      need(buf, p + 4, len);
      return [buf.toString('utf8', p + 4, p + 4 + len), p + 4 + len];
    }
    default:
      throw new Amf0Error(`AMF0 type 0x${marker.toString(16)} is not supported`);
  }
}
