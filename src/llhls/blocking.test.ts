// The blocking reload rules (draft-pantos-hls-rfc8216bis §6.2.5.2) as pure functions.
import t from 'tap';
import { advancePartLimit, checkDirectives, parseDirectives, satisfies } from './blocking.js';

const newest = { msn: 10, part: 2, partTarget: 0.25, ended: false };

t.test('directives are read from the query; malformed ones are 400', async (t) => {
  t.same(parseDirectives(''), { msn: null, part: null }, 'none: an ordinary reload');
  t.same(parseDirectives('_HLS_msn=10'), { msn: 10, part: null });
  t.same(parseDirectives('_HLS_msn=10&_HLS_part=3'), { msn: 10, part: 3 });
  t.same(parseDirectives('_HLS_msn=0&_HLS_part=0&_HLS_skip=YES'), { msn: 0, part: 0 }, '_HLS_skip is ignored (no CAN-SKIP-UNTIL is advertised)');
  t.match(parseDirectives('_HLS_part=3'), { status: 400, reason: /_HLS_part needs _HLS_msn/ }, '_HLS_part without _HLS_msn');
  for (const bad of ['_HLS_msn=-1', '_HLS_msn=1.5', '_HLS_msn=abc', '_HLS_msn=', '_HLS_msn=01', '_HLS_msn=1&_HLS_msn=2', '_HLS_msn=1&_HLS_part=x', '_HLS_msn=9999999999999999']) {
    t.match(parseDirectives(bad), { status: 400 }, bad);
  }
});

t.test('too far ahead is 400: a segment more than two past the newest, a part beyond the advance part limit', async (t) => {
  t.equal(advancePartLimit(0.25), 12, 'three divided by a part target under a second');
  t.equal(advancePartLimit(1), 3, 'three otherwise');
  t.equal(checkDirectives(newest, { msn: 12, part: null }), null, 'two past: held');
  t.match(checkDirectives(newest, { msn: 13, part: null }), { status: 400, reason: /more than two segments/ });
  t.equal(checkDirectives(newest, { msn: 10, part: 14 }), null, 'the newest part + 12: at the limit');
  t.match(checkDirectives(newest, { msn: 10, part: 15 }), { status: 400, reason: /advance part limit/ });
  t.equal(checkDirectives(newest, { msn: 11, part: 12 }), null, 'a later segment: its index against the limit');
  t.match(checkDirectives(newest, { msn: 11, part: 13 }), { status: 400 });
  t.equal(checkDirectives({ ...newest, partTarget: 1.2 }, { msn: 10, part: 5 }), null);
  t.match(checkDirectives({ ...newest, partTarget: 1.2 }, { msn: 10, part: 6 }), { status: 400 });
  t.equal(checkDirectives(newest, { msn: 3, part: 99 }, ), null, 'an older segment: answered, never refused');
  t.equal(checkDirectives({ ...newest, ended: true }, { msn: 99, part: 99 }), null, 'ended: directives are ignored');
  t.equal(checkDirectives(newest, { msn: null, part: null }), null);
});

t.test('held until the playlist holds the part (or the segment) asked for, or later', async (t) => {
  t.ok(satisfies(newest, { msn: null, part: null }), 'no directives: at once');
  t.ok(satisfies(newest, { msn: 10, part: 2 }), 'the newest part itself');
  t.ok(satisfies(newest, { msn: 10, part: 0 }));
  t.notOk(satisfies(newest, { msn: 10, part: 3 }), 'the next part: held');
  t.notOk(satisfies(newest, { msn: 11, part: 0 }), "the next segment's first part: held");
  t.ok(satisfies({ ...newest, msn: 11, part: 0 }, { msn: 11, part: 0 }), '… until it is there');
  t.ok(satisfies({ ...newest, msn: 11, part: 0 }, { msn: 10, part: 7 }), 'a part past the last of its segment: the next segment satisfies it (overflow)');
  t.ok(satisfies(newest, { msn: 9, part: null }), '_HLS_msn alone: segment 9 is complete');
  t.notOk(satisfies(newest, { msn: 10, part: null }), '_HLS_msn alone: segment 10 is still being written');
  t.ok(satisfies({ ...newest, ended: true }, { msn: 12, part: 5 }), 'ended: at once');
});
