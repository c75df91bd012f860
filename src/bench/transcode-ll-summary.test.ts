import t from 'tap';
import { llCpuSummary } from './transcode-ll-summary.js';

t.test('LL total (ffmpeg + packaging) against standard total (ffmpeg + the bench meanwhile), medians, per minute', async (t) => {
  const s = llCpuSummary({
    standard: [{ ffmpegCpuSeconds: 10, ownCpuSeconds: 0.1 }, { ffmpegCpuSeconds: 12, ownCpuSeconds: 0.1 }, { ffmpegCpuSeconds: 11, ownCpuSeconds: 0.1 }],
    ll: [{ ffmpegCpuSeconds: 11.5, packagingCpuSeconds: 0.6 }, { ffmpegCpuSeconds: 10.5, packagingCpuSeconds: 0.4 }, { ffmpegCpuSeconds: 11, packagingCpuSeconds: 0.5 }],
    videoSeconds: 30,
    target: 1.15,
  });
  t.equal(s.standardCpuSeconds, 11.1, 'median of 10.1, 12.1, 11.1');
  t.equal(s.standardCpuSecondsPerMinute, 22.2);
  t.equal(s.ffmpegCpuSeconds, 11);
  t.equal(s.packagingCpuSeconds, 0.5);
  t.equal(s.cpuSeconds, 11.5, 'median of the totals 12.1, 10.9, 11.5');
  t.equal(s.cpuSecondsPerMinute, 23);
  t.equal(s.packagingCpuSecondsPerMinute, 1);
  t.equal(s.ratio, 1.036, '11.5 / 11.1');
  t.equal(s.ffmpegRatio, 1, '11 / 11');
  t.equal(s.target, '<= 1.15');
  t.equal(s.met, true);
});

t.test('the packaging counts against the target: over 15 % more is not met', async (t) => {
  const s = llCpuSummary({ standard: [{ ffmpegCpuSeconds: 10, ownCpuSeconds: 0 }], ll: [{ ffmpegCpuSeconds: 10.8, packagingCpuSeconds: 0.8 }], videoSeconds: 20, target: 1.15 });
  t.equal(s.ffmpegRatio, 1.08, 'ffmpeg alone would pass');
  t.equal(s.ratio, 1.16);
  t.equal(s.met, false);
  t.throws(() => llCpuSummary({ standard: [], ll: [{ ffmpegCpuSeconds: 1, packagingCpuSeconds: 0 }], videoSeconds: 20, target: 1.15 }), /at least one run/);
});
