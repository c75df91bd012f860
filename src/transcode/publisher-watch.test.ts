// The rule that judges "the publisher's ingest is gone": missed touches counted on the watcher's
// own clock, over successful prompt reads only — never one stale timestamp after an outage.
import t from 'tap';
import { createPublisherRule } from './publisher-watch.js';

const read = (lastSeenAt: number, ended = false) => ({ ended, lastSeenAt, fresh: false });
const at = (ms: number, tookMs = 20) => ({ startedAt: ms - tookMs, answeredAt: ms });

/** Feeds reads every `every` ms from `from` to `to` with a touch value that never moves; the verdicts. */
function standStill(rule: ReturnType<typeof createPublisherRule>, o: { from: number; to: number; every: number; value: number }) {
  const verdicts: string[] = [];
  for (let now = o.from; now <= o.to; now += o.every) verdicts.push(rule.observe(read(o.value), at(now)));
  return verdicts;
}

t.test('a touch value that stands still across successful reads for the limit means gone', async (t) => {
  const rule = createPublisherRule({ silentLimitMs: 15_000, maxStepMs: 5_000 });
  const v = standStill(rule, { from: 0, to: 14_000, every: 1_000, value: 100 });
  t.ok(v.every((x) => x === 'present'), 'present for 14 s');
  t.equal(rule.observe(read(100), at(15_000)), 'gone', 'gone after 15 s of silence');
});

t.test('a touch that moves resets the count', async (t) => {
  const rule = createPublisherRule({ silentLimitMs: 15_000, maxStepMs: 5_000 });
  standStill(rule, { from: 0, to: 12_000, every: 1_500, value: 100 });
  t.equal(rule.observe(read(105), at(13_500)), 'present');
  t.equal(rule.silentMs(), 0);
  t.equal(rule.advances(), 1);
  t.ok(standStill(rule, { from: 15_000, to: 27_000, every: 1_500, value: 105 }).every((x) => x === 'present'));
});

t.test('after an outage, a stale value is not gone: time in which reads failed does not count', async (t) => {
  const rule = createPublisherRule({ silentLimitMs: 15_000, maxStepMs: 5_000 });
  standStill(rule, { from: 0, to: 3_000, every: 1_500, value: 100 }); // healthy, touched at 100
  for (let i = 0; i < 40; i++) rule.failed(); // 60 s of failing reads
  // the first reads after the outage: the value is a minute old, the ingest has not touched yet
  t.equal(rule.observe(read(100), at(63_000)), 'present', 'the first answer after the outage');
  t.ok(standStill(rule, { from: 64_500, to: 72_000, every: 1_500, value: 100 }).every((x) => x === 'present'), 'the ingest has a few touch periods to come back');
  t.equal(rule.observe(read(67_000), at(73_500)), 'present', 'the ingest touched again');
  t.equal(rule.silentMs(), 0);
});

t.test('after an outage, an ingest that does not touch again is gone after the limit of successful reads', async (t) => {
  const rule = createPublisherRule({ silentLimitMs: 15_000, maxStepMs: 5_000 });
  rule.observe(read(100), at(0));
  rule.failed();
  const v = standStill(rule, { from: 60_000, to: 76_000, every: 1_000, value: 100 });
  t.equal(v.indexOf('gone'), 15, 'gone after 15 s of answered reads');
});

t.test('a read the database took long to answer (frozen, then thawed) counts no silence', async (t) => {
  const rule = createPublisherRule({ silentLimitMs: 15_000, maxStepMs: 5_000 });
  rule.observe(read(100), at(0));
  // sent at 1.5 s, answered at 61.5 s when the server thawed: the old value, but nobody could touch
  t.equal(rule.observe(read(100), { startedAt: 1_500, answeredAt: 61_500 }), 'present');
  t.equal(rule.silentMs(), 0);
});

t.test('a watcher that stalls counts one step per read, not the whole pause', async (t) => {
  const rule = createPublisherRule({ silentLimitMs: 15_000, maxStepMs: 5_000 });
  rule.observe(read(100), at(0));
  t.equal(rule.observe(read(100), at(60_000)), 'present', 'one look after a minute-long pause is one missed touch');
  t.equal(rule.silentMs(), 5_000);
  t.equal(rule.observe(read(100), at(65_000)), 'present');
  t.equal(rule.observe(read(100), at(70_000)), 'gone', 'three missed touches');
});

t.test('an ended session is ended at once, whatever the clock says', async (t) => {
  const rule = createPublisherRule();
  t.equal(rule.observe(read(100), at(0)), 'present');
  t.equal(rule.observe(read(100, true), at(1_000)), 'ended');
});

t.test('a publish waiting for its publisher (reconnect grace) is away, never gone: nobody touches it by design', async (t) => {
  const rule = createPublisherRule({ silentLimitMs: 15_000, maxStepMs: 5_000 });
  standStill(rule, { from: 0, to: 12_000, every: 1_500, value: 100 }); // 12 s untouched: nearly gone
  const away = (leftMs: number) => ({ ...read(100), reconnectLeftMs: leftMs });
  for (let now = 13_500, left = 20_000; left > 0; now += 1_500, left -= 1_500) t.equal(rule.observe(away(left), at(now)), 'away');
  t.equal(rule.silentMs(), 0, 'the time away counts as no silence');
  // the publisher is back (touched at 40 s): judged afresh from there
  t.equal(rule.observe(read(40_000), at(41_000)), 'present');
  t.ok(standStill(rule, { from: 42_000, to: 55_000, every: 1_000, value: 40_000 }).every((x) => x === 'present'));
});
