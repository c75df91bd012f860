import t from 'tap';
import { BoxSplitter } from './mp4-boxes.js';
import { Mp4FormatError } from './errors.js';
import { FIXTURES, randomChunks, readFixture, seededRandom } from '../testing/llhls-fixtures.js';

function box(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

function box64(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(1, 0);
  head.write(type, 4, 'latin1');
  head.writeBigUInt64BE(BigInt(16 + body.length), 8);
  return Buffer.concat([head, body]);
}

function caught(fn: () => unknown): Mp4FormatError {
  try {
    fn();
  } catch (err) {
    if (err instanceof Mp4FormatError) return err;
    throw err;
  }
  throw new Error('expected an Mp4FormatError');
}

t.test('a fixture pushed in random chunks (1 byte to 64 KiB) gives the same boxes as in one piece', async (t) => {
  const bytes = readFixture(FIXTURES.gop2bfCopy);
  const whole = new BoxSplitter().push(bytes);
  t.same(whole.slice(0, 2).map((b) => b.type), ['ftyp', 'moov']);
  t.equal(whole.at(-1)!.type, 'mfra', 'ffmpeg ends the file with its fragment index');
  t.ok(whole.slice(2, -1).every((b, i) => b.type === (i % 2 === 0 ? 'moof' : 'mdat')), 'between them moof, mdat, moof, mdat …');
  t.ok(Buffer.concat(whole.map((b) => b.bytes)).equals(bytes), 'the boxes are the stream, byte for byte');
  for (const seed of [1, 2, 3]) {
    const splitter = new BoxSplitter();
    const boxes = randomChunks(bytes, seededRandom(seed)).flatMap((c) => splitter.push(c));
    splitter.end();
    t.same(boxes.map((b) => b.type), whole.map((b) => b.type), `seed ${seed}: same boxes`);
    t.ok(Buffer.concat(boxes.map((b) => b.bytes)).equals(bytes), `seed ${seed}: same bytes`);
  }
  const byByte = new BoxSplitter();
  const head = bytes.subarray(0, whole[0]!.bytes.length + whole[1]!.bytes.length + 20);
  const out = [...head].flatMap((b) => byByte.push(Uint8Array.of(b)));
  t.same(out.map((b) => b.type), ['ftyp', 'moov'], 'one byte at a time');
  t.equal(byByte.bufferedBytes, 20, 'the start of the next box is held');
});

t.test('64-bit box sizes, also with the header split across chunks', async (t) => {
  const body = Buffer.from('hello, large box');
  const stream = Buffer.concat([box64('mdat', body), box('free', Buffer.alloc(3))]);
  const splitter = new BoxSplitter();
  const got = [...stream].flatMap((b) => splitter.push(Uint8Array.of(b)));
  t.same(got.map((b) => [b.type, b.headerSize, b.bytes.length]), [['mdat', 16, 32], ['free', 8, 11]]);
  t.ok(got[0]!.bytes.subarray(16).equals(body));
});

t.test('malformed streams give a typed Mp4FormatError, and the splitter stays failed', async (t) => {
  const garbage = caught(() => new BoxSplitter().push(Buffer.from('\x00\x00\x00\x10\x01\x02\x03\x04garbage!', 'latin1')));
  t.equal(garbage.reason, 'malformed');
  t.equal(garbage.code, 'bad_media');
  t.equal(garbage.status, 422);
  t.match(garbage.message, /four-character code/);
  const text = caught(() => new BoxSplitter().push(Buffer.from('this is not an mp4 stream at all')));
  t.equal(text.reason, 'malformed', 'printable garbage too: not a top-level box type');
  t.match(text.message, /Not a fragmented-MP4 stream: a top-level box of type ' is '/);

  const huge = new BoxSplitter({ maxBoxBytes: 1024 * 1024 });
  const head = Buffer.alloc(8);
  head.writeUInt32BE(0xfffffff0, 0);
  head.write('mdat', 4, 'latin1');
  const tooLarge = caught(() => huge.push(head));
  t.equal(tooLarge.reason, 'too_large', 'refused at the header, before buffering the body');
  t.match(tooLarge.message, /above the limit of 1048576/);
  t.equal(caught(() => huge.push(Buffer.alloc(10))), tooLarge, 'every later push gives the same error');
  const huge64 = caught(() => new BoxSplitter().push(box64('mdat', Buffer.alloc(0)).fill(0xff, 8, 16)));
  t.equal(huge64.reason, 'too_large', 'a 64-bit size above the limit too');

  const truncated = new BoxSplitter();
  const fixture = readFixture(FIXTURES.gop1Copy);
  truncated.push(fixture.subarray(0, fixture.length - 100));
  const ended = caught(() => truncated.end());
  t.equal(ended.reason, 'truncated');
  t.match(ended.message, /ended inside a box/);

  t.equal(caught(() => new BoxSplitter().push(box('moof', Buffer.alloc(0)).fill(0, 0, 4))).reason, 'malformed', 'size 0 (to end of file)');
  const tiny = box('moof', Buffer.alloc(0));
  tiny.writeUInt32BE(4, 0);
  t.equal(caught(() => new BoxSplitter().push(tiny)).reason, 'malformed', 'a size smaller than the header');
});

t.test('memory stays bounded by the box being read', async (t) => {
  const splitter = new BoxSplitter();
  const mdat = box('mdat', Buffer.alloc(100_000));
  for (let i = 0; i < 50; i++) {
    splitter.push(mdat.subarray(0, 60_000));
    t.equal(splitter.bufferedBytes, 60_000);
    splitter.push(mdat.subarray(60_000));
  }
  t.equal(splitter.bufferedBytes, 0, 'nothing held between boxes');
});
