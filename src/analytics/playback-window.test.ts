import t from 'tap';
import { playbackWindow, type WindowInput } from './playback-window.js';

const MIN = 60_000;
const rules = { leadMs: 30 * MIN, graceMs: 15 * MIN };
const T0 = Date.parse('2026-12-01T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * MIN);
/** A session 10:00–11:00 on its stream, nothing around it, nobody publishing. */
const base = (o: Partial<WindowInput> & { nowMin: number }): WindowInput => ({
  session: { startsAt: at(0), endsAt: at(60) },
  previous: null,
  nextStartsAt: null,
  publishStartedAt: null,
  now: at(o.nowMin),
  ...o,
});
const open = (o: Partial<WindowInput> & { nowMin: number }) => playbackWindow(rules, base(o)).open;

t.test('a lone session: from the lead before its start to the grace after its end', async (t) => {
  t.same(playbackWindow(rules, base({ nowMin: 0 })), { opensAt: at(-30), closesAt: at(75), overrun: false, open: true });
  t.notOk(open({ nowMin: -31 }), 'before the lead');
  t.ok(open({ nowMin: -30 }), 'from the lead');
  t.ok(open({ nowMin: 74 }), 'within the grace');
  t.notOk(open({ nowMin: 75 }), 'after the grace');
  t.ok(playbackWindow({ leadMs: 0, graceMs: 0 }, base({ nowMin: 59 })).open);
  t.notOk(playbackWindow({ leadMs: 0, graceMs: 0 }, base({ nowMin: 60 })).open, 'no grace: closed at the end');
  t.notOk(playbackWindow({ leadMs: 0, graceMs: 0 }, base({ nowMin: -1 })).open, 'no lead: closed before the start');
});

t.test('the next session on the stream closes it, even within the grace', async (t) => {
  const next = { nextStartsAt: at(70) };
  t.same(playbackWindow(rules, base({ ...next, nowMin: 65 })).closesAt, at(70));
  t.ok(open({ ...next, nowMin: 69 }));
  t.notOk(open({ ...next, nowMin: 70 }), 'the next session started: closed although within the grace');
  t.notOk(open({ ...next, nowMin: 70, publishStartedAt: at(-5) }), 'also while its broadcast runs over');
});

t.test('the previous session on the stream holds back the lead', async (t) => {
  // this session 10:00–11:00; the one before ends at 09:50 (its grace would reach 10:05, capped at 10:00)
  const previous = { previous: { startsAt: at(-120), endsAt: at(-10) } };
  t.same(playbackWindow(rules, base({ ...previous, nowMin: 0 })).opensAt, at(0), 'opens when the previous one closes');
  t.notOk(open({ ...previous, nowMin: -5 }), 'a URL for the later session does not play the earlier one');
  t.ok(open({ ...previous, nowMin: 0 }));
  // the one before ended long ago: the full lead applies
  const early = { previous: { startsAt: at(-300), endsAt: at(-240) } };
  t.same(playbackWindow(rules, base({ ...early, nowMin: -30 })).opensAt, at(-30));
  // it ends at 09:40, grace to 09:55: this one opens at 09:55, not 09:30
  t.same(playbackWindow(rules, base({ previous: { startsAt: at(-120), endsAt: at(-20) }, nowMin: 0 })).opensAt, at(-5));
  // the earlier session's broadcast runs over: it keeps the stream until this one starts
  t.notOk(open({ previous: { startsAt: at(-120), endsAt: at(-50) }, publishStartedAt: at(-118), nowMin: -10 }), 'the previous session runs over');
  t.ok(open({ previous: { startsAt: at(-120), endsAt: at(-50) }, publishStartedAt: at(-118), nowMin: 0 }));
});

t.test('a broadcast that runs over keeps the session open while its publish lasts', async (t) => {
  const w = playbackWindow(rules, base({ publishStartedAt: at(-2), nowMin: 120 }));
  t.same(w, { opensAt: at(-30), closesAt: null, overrun: true, open: true }, 'publish began in the window, still on');
  t.ok(open({ publishStartedAt: at(-30), nowMin: 300 }), 'a publish from the lead on counts');
  t.ok(open({ publishStartedAt: at(74), nowMin: 300 }), 'a publish begun within the grace counts');
  t.notOk(open({ publishStartedAt: at(-31), nowMin: 120 }), 'a publish begun before the window is not this session’s');
  t.notOk(open({ publishStartedAt: at(75), nowMin: 120 }), 'nor one begun after it closed');
  t.notOk(open({ publishStartedAt: null, nowMin: 120 }), 'the publish ended: closed');
  t.same(playbackWindow(rules, base({ publishStartedAt: at(5), nextStartsAt: at(180), nowMin: 120 })).closesAt, at(180), 'until the next session starts');
  t.notOk(playbackWindow(rules, base({ publishStartedAt: at(5), nowMin: 30 })).overrun, 'not over time yet');
  // the previous session's broadcast is not this session's: it does not run over
  t.notOk(open({ previous: { startsAt: at(-120), endsAt: at(-50) }, publishStartedAt: at(-118), nowMin: 90 }));
});
