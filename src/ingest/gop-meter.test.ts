import t from 'tap';
import { avcCompositionTime, GopMeter, isKeyframePacket } from './gop-meter.js';

/** An FLV AVC video packet: frame type (1 key, 2 inter), packet type 1 (NALU), CTS in ms. */
const avc = (key: boolean, cts = 0) => {
  const b = Buffer.alloc(9);
  b[0] = ((key ? 1 : 2) << 4) | 7;
  b[1] = 1;
  b.writeIntBE(cts, 2, 3);
  return b;
};
const sequenceHeader = Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x29]);

t.test('packets: composition offsets and keyframes of classic AVC tags only', async (t) => {
  t.equal(avcCompositionTime(avc(false, 66)), 66);
  t.equal(avcCompositionTime(avc(false, -33)), -33, 'signed 24 bits');
  t.equal(avcCompositionTime(sequenceHeader), null, 'a sequence header has none');
  t.equal(avcCompositionTime(Buffer.from([0x27, 1])), null, 'too short');
  t.equal(avcCompositionTime(Buffer.from([0x22, 1, 0, 0, 5])), null, 'not AVC');
  t.equal(avcCompositionTime(Buffer.from([0x90, 0x68, 0x76, 0x63, 0x31])), null, 'Enhanced RTMP');
  t.ok(isKeyframePacket(avc(true)));
  t.notOk(isKeyframePacket(avc(false)));
  t.notOk(isKeyframePacket(sequenceHeader), 'the sequence header is not a keyframe');
  t.notOk(isKeyframePacket(Buffer.alloc(0)));
});

t.test('a 1 s GOP at 30 fps without B-frames', async (t) => {
  const m = new GopMeter(2.5);
  let out = null;
  for (let i = 0; i <= 30 && !out; i++) out = m.feed(1000 + Math.round((i * 1000) / 30), avc(i % 30 === 0));
  t.same(out, { keyframeIntervalSeconds: 1, atLeastSeconds: null, bFrames: false });
  t.same(m.feed(5000, avc(true)), out, 'measured once');
});

t.test('B-frames: a composition offset on any frame of the GOP', async (t) => {
  const m = new GopMeter(2.5);
  let out = null;
  for (let i = 0; i <= 60 && !out; i++) out = m.feed(i * 33, avc(i % 60 === 0, i % 3 === 1 ? 66 : 0));
  t.same(out, { keyframeIntervalSeconds: 1.98, atLeastSeconds: null, bFrames: true });
});

t.test('measured from the first keyframe; a GOP too long gives up with a lower bound', async (t) => {
  const m = new GopMeter(2.5);
  t.equal(m.feed(0, avc(false)), null, 'inter frames before the first keyframe are ignored');
  t.equal(m.feed(40, avc(false, 40)), null);
  let out = null;
  for (let i = 0; !out && i < 1000; i++) out = m.feed(100 + i * 40, avc(i === 0));
  t.same(out, { keyframeIntervalSeconds: null, atLeastSeconds: 2.52, bFrames: false }, 'the B-frame before the first keyframe did not count');
});
