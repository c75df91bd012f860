import t from 'tap';
import { figures, quantile, verdicts, type Figures } from './glass-summary.js';
import type { PlayerReport } from './glass-player.js';

function report(o: Partial<PlayerReport>): PlayerReport {
  return { samples: [], rejected: 0, waiting: [], stalled: [], errors: [], levelHeights: [], pinnedHeight: null, autoLevelEnabled: true, hlsLatency: null, targetLatency: null, seekedToLiveEdge: false, firstPlayingAt: null, droppedFrames: 0, decodedFrames: 0, ...o };
}

t.test('percentiles, stalls and renditions over the window only', async (t) => {
  const samples: [number, number, number][] = [];
  for (let i = 0; i < 100; i++) samples.push([1000 + i * 100, 1000 + i * 10, i < 75 ? 720 : 360]); // 1.00 … 1.99 s
  samples.push([500, 60_000, 720]); // before the window: warm-up, not counted
  const f = figures([{ report: report({ samples, waiting: [900, 2000, 9000], stalled: [2000], errors: [{ t: 5, details: 'manifestLoadError', fatal: true }, { t: 6, details: 'bufferStalledError', fatal: false }] }), window: { from: 1000, to: 11_000 } }]);
  t.equal(f.frames, 100);
  t.equal(f.p50, 1.49);
  t.equal(f.p90, 1.89);
  t.equal(f.p99, 1.98);
  t.equal(f.max, 1.99);
  t.equal(f.stallsPerMinute, 12, '2 waiting events in the window of 10 s');
  t.equal(f.bufferStalledPerMinute, 6);
  t.same(f.fatalErrors, ['manifestLoadError']);
  t.same(f.renditions, { '720p': 0.75, '360p': 0.25 });
  t.equal(f.fpsShown, 10, '100 frames read in 10 s');
  t.equal(quantile([], 0.5), null);
});

const fig = (p50: number | null, extra: Partial<Figures> = {}): Figures => ({ frames: 1, rejected: 0, p50, p90: p50, p99: p50, max: p50, stallsPerMinute: 0, bufferStalledPerMinute: 0, fatalErrors: [], renditions: {}, minutes: 1, fpsShown: 30, ...extra });

t.test('verdicts: the ratio to nginx-rtmp, the LL limits by GOP, LL not available is n/a', async (t) => {
  const v2 = verdicts({ gopSeconds: 2, standardAuto: fig(6.3), peer: fig(7.0), ll: { auto: fig(1.4), top: fig(1.6), transcoded: fig(1.2, { stallsPerMinute: 1.5 }) } });
  t.same(v2.map((v) => v.met), [true, true, false, false], 'ratio 0.9 met; LL 1.4 s met, 1.6 s not, a stall rate of 1.5/min not');
  const v1 = verdicts({ gopSeconds: 1, standardAuto: fig(5), peer: fig(4), ll: { auto: fig(1.2) } });
  t.same(v1.map((v) => v.met), [false, false], 'ratio 1.25 not met; at a 1 s GOP 1.2 s is too slow');
  const na = verdicts({ gopSeconds: 2, standardAuto: fig(5), peer: fig(5), ll: null });
  t.same(na.map((v) => v.met), [true, null]);
  t.match(na[1]!.detail, /not available/);
  t.same(verdicts({ gopSeconds: 2, standardAuto: fig(5), peer: fig(5), ll: { auto: fig(1.0, { fatalErrors: ['x'] }) } })[1]!.met, false, 'a fatal error fails LL');
  t.same(verdicts({ gopSeconds: 2, standardAuto: fig(null), peer: fig(5), ll: null })[0]!.met, false, 'served but no frame read: a failure, not n/a');
  t.same(verdicts({ gopSeconds: 2, standardAuto: null, peer: fig(5), ll: null })[0]!.met, null, 'a side not run: n/a');
  const starved = verdicts({ gopSeconds: 2, standardAuto: fig(3, { fpsShown: 20 }), peer: fig(7), ll: null })[0]!;
  t.equal(starved.met, null, 'a starved viewer (20 fps shown) at the live edge: no verdict, however good its ratio');
  t.match(starved.detail, /starved \(20 fps/);
});
