// A tiny raw RTMP client for tests: the handshake, AMF0 commands and hand-made chunks, so tests
// can send exactly the malformed input a hostile peer would.
import net from 'node:net';
import { randomBytes } from 'node:crypto';

type Amf = string | number | boolean | null | { [k: string]: Amf };

export function amf0(value: Amf): Buffer {
  if (value === null) return Buffer.from([0x05]);
  if (typeof value === 'number') {
    const b = Buffer.alloc(9);
    b[0] = 0x00;
    b.writeDoubleBE(value, 1);
    return b;
  }
  if (typeof value === 'boolean') return Buffer.from([0x01, value ? 1 : 0]);
  if (typeof value === 'string') {
    const s = Buffer.from(value, 'utf8');
    const b = Buffer.alloc(3);
    b[0] = 0x02;
    b.writeUInt16BE(s.length, 1);
    return Buffer.concat([b, s]);
  }
  const parts: Buffer[] = [Buffer.from([0x03])];
  for (const [k, v] of Object.entries(value)) {
    const kb = Buffer.from(k, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(kb.length);
    parts.push(len, kb, amf0(v));
  }
  parts.push(Buffer.from([0x00, 0x00, 0x09]));
  return Buffer.concat(parts);
}

/** One RTMP message as fmt-0 chunks of 128 bytes on chunk stream `csid`. */
export function chunked(o: { csid: number; typeId: number; streamId: number; payload: Buffer; declaredLength?: number; chunkSize?: number }): Buffer {
  const size = o.chunkSize ?? 128;
  const header = Buffer.alloc(12);
  header[0] = o.csid & 0x3f;
  header.writeUIntBE(0, 1, 3);
  header.writeUIntBE(o.declaredLength ?? o.payload.length, 4, 3);
  header[7] = o.typeId;
  header.writeUInt32LE(o.streamId, 8);
  const parts: Buffer[] = [header];
  for (let off = 0; off < o.payload.length; off += size) {
    if (off > 0) parts.push(Buffer.from([0xc0 | (o.csid & 0x3f)]));
    parts.push(o.payload.subarray(off, off + size));
  }
  return Buffer.concat(parts);
}

export const command = (name: string, transId: number, ...args: Amf[]) =>
  chunked({ csid: 3, typeId: 20, streamId: 0, payload: Buffer.concat([amf0(name), amf0(transId), ...args.map(amf0)]) });

export const setChunkSize = (n: number) => {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(n >>> 0);
  return chunked({ csid: 2, typeId: 1, streamId: 0, payload: p });
};

export interface RawRtmp {
  socket: net.Socket;
  closed: Promise<number>; // resolves with Date.now() at close
  send(b: Buffer): void;
  handshake(): Promise<void>;
  received(): number;
}

/** localAddress (e.g. 127.0.0.2: all of 127/8 is loopback) makes the ingest see another client address. */
export async function connectRaw(port: number, o: { localAddress?: string } = {}): Promise<RawRtmp> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: o.localAddress });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let buf = Buffer.alloc(0);
  let total = 0;
  const waiters: (() => void)[] = [];
  socket.on('data', (d: Buffer) => {
    total += d.length;
    if (buf.length < 4096) buf = Buffer.concat([buf, d]);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      resolve(Date.now());
      for (const w of waiters.splice(0)) w(); // a handshake waiting for data learns it never comes
    }),
  );
  return {
    socket,
    closed,
    received: () => total,
    send: (b) => {
      if (!socket.destroyed) socket.write(b);
    },
    async handshake() {
      const c1 = Buffer.concat([Buffer.alloc(8), randomBytes(1528)]);
      socket.write(Buffer.concat([Buffer.from([3]), c1]));
      while (buf.length < 1 + 1536 * 2) {
        if (socket.destroyed) throw new Error('closed during handshake');
        await new Promise<void>((r) => waiters.push(r));
      }
      const s1 = buf.subarray(1, 1537);
      socket.write(s1); // C2 echoes S1
      buf = buf.subarray(1 + 1536 * 2);
    },
  };
}

/** connect → createStream → publish, as an encoder would. */
export function publishCommands(o: { app: string; name: string; tcUrl?: string | null }): Buffer {
  const connectObj: Record<string, Amf> = { app: o.app, type: 'nonprivate', flashVer: 'FMLE/3.0' };
  if (o.tcUrl !== null) connectObj.tcUrl = o.tcUrl ?? `rtmp://127.0.0.1/${o.app}`;
  return Buffer.concat([
    command('connect', 1, connectObj),
    command('createStream', 2, null),
    chunked({ csid: 4, typeId: 20, streamId: 1, payload: Buffer.concat([amf0('publish'), amf0(3), amf0(null), amf0(o.name), amf0('live')]) }),
  ]);
}

/**
 * connect → createStream → several publish/play commands on one connection, in one write (a
 * hostile client: an encoder sends one publish per connection).
 */
export function streamCommands(o: { app: string; commands: { kind: 'publish' | 'play'; name: string }[] }): Buffer {
  return Buffer.concat([
    command('connect', 1, { app: o.app, type: 'nonprivate', flashVer: 'FMLE/3.0', tcUrl: `rtmp://127.0.0.1/${o.app}` }),
    command('createStream', 2, null),
    ...o.commands.map((c, i) =>
      chunked({ csid: 4, typeId: 20, streamId: 1, payload: Buffer.concat([amf0(c.kind), amf0(3 + i), amf0(null), amf0(c.name), ...(c.kind === 'publish' ? [amf0('live')] : [])]) }),
    ),
  ]);
}
