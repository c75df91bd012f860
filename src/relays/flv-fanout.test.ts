// The fan-out: every sink gets every tag; one added mid-stream gets the metadata and sequence
// headers first; a source that is not FLV is drained (its writer never blocks) and reported.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { FlvFanout } from './flv-fanout.js';
import { TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, flvBytes, type FlvTag } from './flv-reader.js';

const tags = [
  { type: TAG_SCRIPT, timestamp: 0, data: Buffer.from('meta') },
  { type: TAG_VIDEO, timestamp: 0, data: Buffer.from([0x17, 0x00, 1]) },
  { type: TAG_AUDIO, timestamp: 0, data: Buffer.from([0xaf, 0x00, 2]) },
  { type: TAG_VIDEO, timestamp: 40, data: Buffer.from([0x17, 0x01, 3]) },
  { type: TAG_VIDEO, timestamp: 80, data: Buffer.from([0x27, 0x01, 4]) },
];

const sink = () => {
  const got: FlvTag[] = [];
  return { got, offer: (x: FlvTag) => void got.push(x) };
};

t.test('every sink gets every tag; a late sink gets the headers first, then what follows', async (t) => {
  const f = new FlvFanout();
  const early = sink();
  f.add(early);
  const bytes = flvBytes(tags);
  const cut = bytes.length - 14; // the last tag (3 data bytes + 11 header) still to come
  f.push(bytes.subarray(0, cut));
  const late = sink();
  f.add(late);
  f.push(bytes.subarray(cut));
  t.equal(early.got.length, 5);
  t.same(late.got.map((x) => (x.type === TAG_SCRIPT ? 'meta' : x.data[2])), ['meta', 1, 2, 4]);
  t.equal(f.lastTimestamp, 80);
  f.remove(early);
  f.push(flvBytes([{ type: TAG_VIDEO, timestamp: 120, data: Buffer.from([0x27, 0x01, 5]) }]).subarray(13));
  t.equal(early.got.length, 5, 'a removed sink gets nothing more');
  t.equal(late.got.length, 5);
});

t.test('a source that is not FLV: read to its end all the same, with the reason kept', async (t) => {
  const f = new FlvFanout();
  const s = sink();
  f.add(s);
  const src = new PassThrough();
  const done = f.consume(src);
  src.write(Buffer.from('this is not an flv stream at all'));
  src.end(Buffer.alloc(1_000_000));
  await done;
  t.equal(f.bytesIn, 1_000_032);
  t.match(f.error, /not FLV/);
  t.equal(s.got.length, 0);
});
