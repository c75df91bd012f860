import t from 'tap';
import type { SourceInfo } from './types.js';
import { lowLatencyAdvice } from './low-latency-advice.js';

const src: SourceInfo = { videoCodec: 'h264', audioCodec: 'aac', width: 1920, height: 1080, fps: 30, videoBitrateKbps: 4500, audioBitrateKbps: 128, avcProfile: null };

t.test('the advice a low-latency broadcaster gets, in words', async (t) => {
  t.same(lowLatencyAdvice({ ...src, keyframeIntervalSeconds: 1, bFrames: false }), [], 'a 1 s GOP without B-frames: nothing to say');
  const two = lowLatencyAdvice({ ...src, keyframeIntervalSeconds: 2, bFrames: false });
  t.equal(two.length, 1);
  t.match(two[0], { level: 'info', message: /keyframes every 2\.0 s work; every 1 s lets viewers join and switch quality sooner \(OBS: Settings › Output › Keyframe Interval 1 s\)/ });
  const long = lowLatencyAdvice({ ...src, keyframeIntervalSeconds: 4, bFrames: true });
  t.match(long[0], { level: 'warn', message: /every 4\.0 s, more than the 2 s low latency allows, so the top quality is re-encoded/ });
  t.match(long[1], { level: 'warn', message: /B-frames, which add delay in every player\. Turn them off \(OBS x264: Tune "zerolatency"/ });
  t.match(lowLatencyAdvice({ ...src, keyframeIntervalSeconds: null, keyframeIntervalAtLeastSeconds: 2.52 })[0], { message: /more than 2\.5 s apart/ });
  t.match(lowLatencyAdvice({ ...src, keyframeIntervalSeconds: null })[0], { message: /could not be measured/ });
  t.same(lowLatencyAdvice({ ...src, videoCodec: 'hevc', keyframeIntervalSeconds: null }), [], 'nothing about passing through what is never passed through');
});
