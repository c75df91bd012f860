import t from 'tap';
import { summarize, type Window } from './relay-summary.js';

const w = (n: number, ffmpeg: number, worker: number, extra: Partial<Window> = {}): Window => ({ n, ffmpeg, worker, nginx: 0.001 * n, other: 0.1, relayedMbps: 4.7 * n, perDestinationMbps: Array(n).fill(4.7), ...extra });

t.test('per destination = (ours(n) − ours(0)) / n against the ladder (ffmpeg at 0), windows of one configuration averaged', async (t) => {
  const s = summarize([w(0, 0.6, 0.02), w(1, 0.62, 0.03), w(10, 0.62, 0.05), w(10, 0.6, 0.05), w(1, 0.64, 0.03), w(0, 0.64, 0.02)], [0, 1, 10]);
  t.equal(s.ladderCores, 0.62, 'the ladder: ffmpeg at 0 destinations, mean of its windows');
  const [zero, one, ten] = s.rows;
  t.same([zero!.perDestinationCores, zero!.perDestinationOfLadder], [null, null], 'no per-destination figure at 0');
  t.equal(one!.oursCores, 0.66);
  t.equal(one!.perDestinationCores, 0.02, '((0.63 + 0.03) − (0.62 + 0.02)) / 1');
  t.equal(one!.perDestinationWorkerCores, 0.01, 'the worker’s part');
  t.equal(one!.perDestinationFfmpegCores, 0.01, 'ffmpeg’s part');
  t.equal(ten!.perDestinationCores, 0.002, '((0.61 + 0.05) − (0.62 + 0.02)) / 10');
  t.equal(ten!.perDestinationOfLadder, round4(0.002 / 0.62));
  t.equal(one!.perDestinationBoundCores, 0.02, 'both parts positive: the bound is the figure');
  t.equal(ten!.perDestinationBoundCores, 0.003, 'ffmpeg 0.01 cores lower at 10 (noise) counts as 0: the worker’s 0.03 / 10');
  t.equal(ten!.perDestinationBoundOfLadder, round4(0.003 / 0.62));
  t.equal(ten!.relayedMbps, 47);
  t.equal(ten!.nginxCores, 0.01);
  t.equal(s.repeatSpreadCores, round4((0.04 + 0.02 + 0.02) / 3), 'mean |difference| of the two windows of each configuration');
});

t.test('a configuration without a window is an error, not a zero', async (t) => {
  t.throws(() => summarize([w(0, 0.6, 0.02), w(1, 0.6, 0.03)], [0, 1, 3]), /no window with 3 destination/);
  t.throws(() => summarize([w(1, 0.6, 0.03)], [1]), /no window with 0 destination/, 'the baseline is required');
});

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
