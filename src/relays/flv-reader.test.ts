// The FLV tag reader on hand-made bytes: any split of the input gives the same tags.
import t from 'tap';
import { FlvFormatError, FlvReader, TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, flvBytes } from './flv-reader.js';

const tags = [
  { type: TAG_SCRIPT, timestamp: 0, data: Buffer.from('\x02\x00\x0aonMetaData', 'latin1') },
  { type: TAG_VIDEO, timestamp: 0, data: Buffer.from([0x17, 0x00, 0, 0, 0, 1, 2, 3]) }, // AVC sequence header
  { type: TAG_AUDIO, timestamp: 0, data: Buffer.from([0xaf, 0x00, 0x12, 0x10]) }, // AAC sequence header
  { type: TAG_VIDEO, timestamp: 40, data: Buffer.from([0x17, 0x01, 0, 0, 0, 9, 9]) }, // key frame
  { type: TAG_AUDIO, timestamp: 42, data: Buffer.from([0xaf, 0x01, 5, 5]) },
  { type: TAG_VIDEO, timestamp: 80, data: Buffer.from([0x27, 0x01, 0, 0, 0, 8]) }, // inter frame
  { type: TAG_VIDEO, timestamp: 0x1234567, data: Buffer.from([0x27, 0x01, 0, 0, 0, 7]) }, // past 24 bits
];

t.test('whole tags come out with their type, timestamp (extended byte included), key frame and sequence-header flags', async (t) => {
  const out = new FlvReader().push(flvBytes(tags));
  t.same(out.map((x) => [x.type, x.timestamp, x.keyframe, x.sequenceHeader]), [
    [TAG_SCRIPT, 0, false, false],
    [TAG_VIDEO, 0, true, true],
    [TAG_AUDIO, 0, false, true],
    [TAG_VIDEO, 40, true, false],
    [TAG_AUDIO, 42, false, false],
    [TAG_VIDEO, 80, false, false],
    [TAG_VIDEO, 0x1234567, false, false],
  ]);
  t.same(out[3]!.data, tags[3]!.data);
});

t.test('the same tags whatever the split: byte by byte and in odd pieces', async (t) => {
  const bytes = flvBytes(tags);
  for (const step of [1, 3, 7, 13, 100]) {
    const r = new FlvReader();
    const out = [];
    for (let i = 0; i < bytes.length; i += step) out.push(...r.push(bytes.subarray(i, i + step)));
    t.same(out.map((x) => [x.type, x.timestamp, x.data.toString('hex')]), tags.map((x) => [x.type, x.timestamp, x.data.toString('hex')]), `step ${step}`);
  }
});

t.test('unknown tag types are skipped; bytes that are not FLV or an absurd tag size are a clear error', async (t) => {
  const out = new FlvReader().push(flvBytes([{ type: 15, timestamp: 0, data: Buffer.from([1]) }, tags[3]!]));
  t.equal(out.length, 1);
  t.throws(() => new FlvReader().push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), /not FLV/);
  t.ok((() => {
    try {
      new FlvReader().push(Buffer.from('RIFF0000WAVEfmt '));
      return false;
    } catch (err) {
      return err instanceof FlvFormatError;
    }
  })(), 'a typed error');
  const huge = flvBytes([tags[3]!]);
  huge.writeUIntBE(0xffffff, 13 + 1, 3);
  t.throws(() => new FlvReader().push(huge), /FLV tag of 16777215 bytes/);
});
