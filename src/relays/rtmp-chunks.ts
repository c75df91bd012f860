// RTMP chunk stream, both ways: messages → chunks for what the publisher sends, chunks →
// messages for what the server sends back. Pure (bytes in, bytes/messages out).

export interface RtmpMessage {
  csid: number;
  typeId: number;
  streamId: number;
  timestamp: number;
  payload: Buffer;
}

export class RtmpProtocolError extends Error {}

const EXTENDED = 0xffffff;
/** Nothing a server sends us (commands, controls) comes near this. */
const MAX_INBOUND_MESSAGE = 4 * 1024 * 1024;

function basicHeader(fmt: number, csid: number): Buffer {
  if (csid < 2 || csid > 65599) throw new RtmpProtocolError(`chunk stream id ${csid} is out of range`);
  if (csid < 64) return Buffer.from([(fmt << 6) | csid]);
  if (csid < 320) return Buffer.from([fmt << 6, csid - 64]);
  return Buffer.from([(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >> 8]);
}

/**
 * One message as chunks: a full (type 0) header, then type 3 continuations. Every message gets
 * a type 0 header with its absolute timestamp: a few bytes more than delta headers, and nothing
 * to get wrong after a dropped message.
 */
export function encodeMessage(m: RtmpMessage, chunkSize: number): Buffer {
  const ts = Math.max(0, Math.floor(m.timestamp)) >>> 0;
  const ext = ts >= EXTENDED;
  const h = Buffer.alloc(11);
  h.writeUIntBE(ext ? EXTENDED : ts, 0, 3);
  h.writeUIntBE(m.payload.length, 3, 3);
  h[6] = m.typeId;
  h.writeUInt32LE(m.streamId, 7);
  const extBytes = Buffer.alloc(ext ? 4 : 0);
  if (ext) extBytes.writeUInt32BE(ts);
  const parts: Buffer[] = [basicHeader(0, m.csid), h, extBytes];
  for (let off = 0; off < m.payload.length || off === 0; off += chunkSize) {
    // type 3 chunks repeat the extended timestamp (what nginx-rtmp, ffmpeg and OBS do)
    if (off > 0) parts.push(basicHeader(3, m.csid), extBytes);
    parts.push(m.payload.subarray(off, off + chunkSize));
    if (m.payload.length === 0) break;
  }
  return Buffer.concat(parts);
}

interface InboundState {
  timestamp: number;
  delta: number;
  length: number;
  typeId: number;
  streamId: number;
  extended: boolean;
  parts: Buffer[];
  have: number;
}

/** Reassembles the server's chunks into messages; the server may change its chunk size (type 1). */
export class ChunkReader {
  private buf: Buffer = Buffer.alloc(0);
  private chunkSize = 128;
  private streams = new Map<number, InboundState>();

  push(chunk: Buffer): RtmpMessage[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: RtmpMessage[] = [];
    for (;;) {
      const used = this.readChunk(out);
      if (used === 0) break;
      this.buf = this.buf.subarray(used);
    }
    return out;
  }

  /** Reads one chunk if it is all there; returns the bytes used (0: wait for more). */
  private readChunk(out: RtmpMessage[]): number {
    const b = this.buf;
    if (b.length < 1) return 0;
    const fmt = b[0]! >> 6;
    let csid = b[0]! & 0x3f;
    let off = 1;
    if (csid === 0) {
      if (b.length < 2) return 0;
      csid = 64 + b[1]!;
      off = 2;
    } else if (csid === 1) {
      if (b.length < 3) return 0;
      csid = 64 + b[1]! + b[2]! * 256;
      off = 3;
    }
    const headerLen = [11, 7, 3, 0][fmt]!;
    if (b.length < off + headerLen) return 0;
    const prev = this.streams.get(csid);
    if (fmt !== 0 && !prev) throw new RtmpProtocolError(`the server continued chunk stream ${csid} that it never started`);
    const st: InboundState = prev ?? { timestamp: 0, delta: 0, length: 0, typeId: 0, streamId: 0, extended: false, parts: [], have: 0 };
    const starting = st.have === 0;
    let field = 0;
    if (fmt <= 2) field = b.readUIntBE(off, 3);
    if (fmt <= 1) {
      st.length = b.readUIntBE(off + 3, 3);
      st.typeId = b[off + 6]!;
    }
    if (fmt === 0) st.streamId = b.readUInt32LE(off + 7);
    off += headerLen;
    if (fmt <= 2) st.extended = field === EXTENDED;
    if (st.extended) {
      if (b.length < off + 4) return 0;
      if (fmt <= 2) field = b.readUInt32BE(off);
      off += 4;
    }
    if (st.length > MAX_INBOUND_MESSAGE) throw new RtmpProtocolError(`the server sent a message of ${st.length} bytes`);
    const take = Math.min(this.chunkSize, st.length - st.have);
    if (b.length < off + take) return 0;
    // only now, with the whole chunk here, is the state changed
    if (starting) {
      if (fmt === 0) st.timestamp = field;
      else if (fmt <= 2) {
        st.delta = field;
        st.timestamp += field;
      } else st.timestamp += st.delta;
    }
    st.parts.push(b.subarray(off, off + take));
    st.have += take;
    this.streams.set(csid, st);
    if (st.have >= st.length) {
      const payload = Buffer.concat(st.parts);
      st.parts = [];
      st.have = 0;
      const m = { csid, typeId: st.typeId, streamId: st.streamId, timestamp: st.timestamp, payload };
      if (m.typeId === 1 && payload.length >= 4) {
        const size = payload.readUInt32BE(0) & 0x7fffffff;
        if (size < 1) throw new RtmpProtocolError('the server set a chunk size of 0');
        this.chunkSize = size;
      }
      out.push(m);
    }
    return off + take;
  }
}
