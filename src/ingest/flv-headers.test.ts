import t from 'tap';
import { parseAudioHeader, parseVideoHeader, toSourceInfo } from './flv-headers.js';

const tag = (data: number[]) => Buffer.concat([Buffer.alloc(11), Buffer.from(data)]);
// keyframe + AVC, sequence header, cts 0, then AVCDecoderConfigurationRecord (High 4.1, one SPS)
const sps = [0x67, 0x64, 0x00, 0x29];
const avcHeader = tag([0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x29, 0xff, 0xe1, 0x00, sps.length, ...sps]);

t.test('video sequence headers', async (t) => {
  const v = parseVideoHeader(avcHeader);
  t.equal(v.codec, 'h264');
  t.same(v.avcProfile, { profileIdc: 0x64, constraints: 0, levelIdc: 0x29 });
  t.same([...v.sps!], sps);
  t.equal(parseVideoHeader(tag([0x90 | 0x00, ...Buffer.from('hvc1')])).codec, 'hevc', 'enhanced RTMP HEVC');
  t.equal(parseVideoHeader(tag([0x90, ...Buffer.from('av01')])).codec, 'av1');
  t.equal(parseVideoHeader(tag([0x22])).codec, 'sorenson');
  t.equal(parseVideoHeader(tag([])).codec, 'unknown');
});

t.test('audio headers', async (t) => {
  t.equal(parseAudioHeader(tag([0xaf, 0x00])), 'aac');
  t.equal(parseAudioHeader(tag([0x2f])), 'mp3');
  t.equal(parseAudioHeader(tag([0x9f])), 'enhanced');
  t.equal(parseAudioHeader(null), null);
});

t.test('source info prefers the SPS over metadata, rounds, and tolerates junk', async (t) => {
  const s = toSourceInfo({
    videoTag: avcHeader,
    audioTag: tag([0xaf, 0x00]),
    metadata: { width: 1280, height: 720, framerate: 29.97002997, videodatarate: 4500.4, audiodatarate: 128 },
    parseSps: () => ({ width: 1920, height: 1080 }),
  });
  t.same(s, { videoCodec: 'h264', audioCodec: 'aac', width: 1920, height: 1080, fps: 29.97, videoBitrateKbps: 4500, audioBitrateKbps: 128, avcProfile: { profileIdc: 100, constraints: 0, levelIdc: 41 } });
  const junk = toSourceInfo({ videoTag: null, audioTag: null, metadata: { width: -1, height: Number.NaN, framerate: 'x' as unknown as number }, parseSps: () => { throw new Error('bad'); } });
  t.same([junk.videoCodec, junk.width, junk.height, junk.fps], ['none', null, null, null]);
});
