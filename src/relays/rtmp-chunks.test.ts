// RTMP chunking and AMF0 on bytes: what the publisher writes is read back the same, across
// chunk sizes, chunk stream id forms, extended timestamps and type 1–3 headers.
import t from 'tap';
import { decodeAmf0All, encodeAmf0All } from './amf0.js';
import { ChunkReader, encodeMessage } from './rtmp-chunks.js';

t.test('AMF0 round trip: numbers, strings, booleans, null, objects, arrays; cut input is an error', async (t) => {
  const values = ['connect', 1, { app: 'live2', type: 'nonprivate', n: 2.5, ok: true, nested: { x: null } }, null, [1, 'a'], 'é'.repeat(10)];
  t.same(decodeAmf0All(encodeAmf0All(...values)), values);
  const b = encodeAmf0All('onStatus', 0, null, { code: 'NetStream.Publish.Start' });
  t.throws(() => decodeAmf0All(b.subarray(0, b.length - 2)), /cut short/);
});

t.test('messages → chunks → messages at several chunk sizes, with an extended timestamp and a wide chunk stream id', async (t) => {
  const msgs = [
    { csid: 3, typeId: 20, streamId: 0, timestamp: 0, payload: encodeAmf0All('_result', 1, null, { code: 'x' }) },
    { csid: 6, typeId: 9, streamId: 1, timestamp: 40, payload: Buffer.alloc(10_000, 7) },
    { csid: 4, typeId: 8, streamId: 1, timestamp: 0x1000000, payload: Buffer.alloc(300, 1) },
    { csid: 70, typeId: 18, streamId: 1, timestamp: 5, payload: Buffer.alloc(0) },
    { csid: 400, typeId: 8, streamId: 1, timestamp: 6, payload: Buffer.alloc(129, 2) },
  ];
  for (const size of [128, 4096]) {
    const reader = new ChunkReader();
    if (size !== 128) {
      const p = Buffer.alloc(4);
      p.writeUInt32BE(size);
      reader.push(encodeMessage({ csid: 2, typeId: 1, streamId: 0, timestamp: 0, payload: p }, 128));
    }
    const bytes = Buffer.concat(msgs.map((m) => encodeMessage(m, size)));
    const out = [];
    for (let i = 0; i < bytes.length; i += 50) out.push(...reader.push(bytes.subarray(i, i + 50)));
    t.same(out.map((m) => [m.csid, m.typeId, m.streamId, m.timestamp, m.payload.toString('hex')]), msgs.map((m) => [m.csid, m.typeId, m.streamId, m.timestamp, m.payload.toString('hex')]), `chunk size ${size}`);
  }
});

t.test('type 1, 2 and 3 headers (what servers send) add their timestamp deltas', async (t) => {
  const reader = new ChunkReader();
  const full = encodeMessage({ csid: 5, typeId: 20, streamId: 0, timestamp: 100, payload: Buffer.from([1, 2]) }, 128);
  // type 1: delta 10, length 1, type 4; type 2: delta 5; type 3: the same delta again
  const t1 = Buffer.from([0x45, 0, 0, 10, 0, 0, 1, 4, 9]);
  const t2 = Buffer.from([0x85, 0, 0, 5, 8]);
  const t3 = Buffer.from([0xc5, 7]);
  const out = reader.push(Buffer.concat([full, t1, t2, t3]));
  t.same(out.map((m) => [m.typeId, m.timestamp, [...m.payload]]), [[20, 100, [1, 2]], [4, 110, [9]], [4, 115, [8]], [4, 120, [7]]]);
  t.throws(() => new ChunkReader().push(Buffer.from([0xc9, 1])), /never started/, 'a continuation of nothing');
});
