import t from 'tap';
import { pngClaiming, testImage, type TestImageKind } from '../testing/images.js';
import { readImageInfo, sniffImageType } from './image-info.js';

t.test('the type comes from the magic bytes and the size from the header, for every kind taken', async (t) => {
  const cases: [TestImageKind, string][] = [['png', 'image/png'], ['jpeg', 'image/jpeg'], ['webp', 'image/webp'], ['webp-lossless', 'image/webp'], ['gif', 'image/gif']];
  for (const [kind, type] of cases) {
    const b = await testImage(kind, { width: 120, height: 48 });
    t.same(readImageInfo(b), { type, width: 120, height: 48 }, kind);
  }
  t.same(readImageInfo(await testImage('jpeg', { width: 7, height: 3 })), { type: 'image/jpeg', width: 7, height: 3 }, 'odd sizes too');
});

t.test('SVG, text, HTML and other formats are no image here', async (t) => {
  for (const text of ['<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', '<?xml version="1.0"?><svg/>', 'hello, I am a text file called logo.png', '<html><body>x</body></html>', '']) {
    t.same(readImageInfo(Buffer.from(text)), { kind: 'unknown' }, JSON.stringify(text.slice(0, 20)));
  }
  t.equal(sniffImageType(Buffer.from('BM\x00\x00', 'latin1')), null, 'BMP is not taken');
  t.equal(sniffImageType(Buffer.from('RIFF\x00\x00\x00\x00WAVE', 'latin1')), null, 'a RIFF that is not WebP');
});

t.test('a file cut short is seen, whatever its kind: the header or the end marker is missing', async (t) => {
  for (const kind of ['png', 'jpeg', 'webp', 'gif'] as const) {
    const b = await testImage(kind, { width: 64, height: 32 });
    for (const keep of [b.length - 1, Math.floor(b.length / 2), 20, 12]) {
      const r = readImageInfo(b.subarray(0, keep));
      t.match(r, { kind: 'truncated' }, `${kind}: ${keep} of ${b.length} bytes`);
    }
  }
});

t.test('a header claiming absurd sizes is read as it claims (the route refuses it)', async (t) => {
  t.same(readImageInfo(pngClaiming(100_000, 20)), { type: 'image/png', width: 100_000, height: 20 });
  t.same(readImageInfo(pngClaiming(0, 0)), { type: 'image/png', width: 0, height: 0 });
});

t.test('garbage after a valid signature never throws', async (t) => {
  const sigs = [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0xff, 0xd8, 0xff], [0x47, 0x49, 0x46, 0x38, 0x39, 0x61], [...Buffer.from('RIFF\xff\xff\xff\x7fWEBP', 'latin1')]];
  for (const sig of sigs) {
    for (let n = 0; n < 200; n++) {
      const b = Buffer.concat([Buffer.from(sig), Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919 + n * 31) & 0xff))]);
      t.doesNotThrow(() => readImageInfo(b));
    }
  }
  t.end();
});
