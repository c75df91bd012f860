// The origin's per-rendition state: newest message kept, bad ones dropped (logged about once a
// minute), a new presentation resets, the last key read from Redis once on a miss, bounded memory.
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import type { Log } from '../log.js';
import { lastKey, type LlPartMessage } from './feed.js';
import { acceptsGzip } from './origin.js';
import { createOriginState, NEGATIVE_MS, type Entry } from './origin-state.js';

const PID = 'abcdefghij0123456789';
const msg = (o: Partial<LlPartMessage> = {}): LlPartMessage => ({
  v: 1,
  playbackId: PID,
  rendition: '720p',
  presentation: 'sess1',
  msn: 5,
  part: 1,
  partName: 'p5.1.m4s',
  hint: 'p5.2.m4s',
  ended: false,
  targetDuration: 1,
  partTarget: 0.25,
  playlist: `#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n# ${o.msn ?? 5}.${o.part ?? 1}\n`,
  at: Date.now(),
  ...o,
});

function setup(o: { kept?: Record<string, string>; maxEntries?: number } = {}) {
  let clock = 1_000_000;
  const warnings: string[] = [];
  const gets: string[] = [];
  const log = { warn: (_f: unknown, m: string) => void warnings.push(m), info() {}, error() {} } as unknown as Log;
  const redis = { get: async (k: string) => (gets.push(k), o.kept?.[k] ?? null) };
  const state = createOriginState({ redis, prefix: 'p', log, maxEntries: o.maxEntries ?? 10, idleMs: 3_600_000, now: () => clock });
  return { state, warnings, gets, tick: (ms: number) => (clock += ms) };
}

t.test('the newest message per rendition is kept; an older part of the same presentation is not', async (t) => {
  const { state } = setup();
  state.handle(msg());
  state.handle(msg({ msn: 5, part: 2, partName: 'p5.2.m4s' }));
  state.handle(msg({ msn: 5, part: 0 })); // a late copy
  const e = (await state.lookup(PID, '720p'))!;
  t.match(e.msg, { msn: 5, part: 2 });
  t.equal(e.body!.toString(), msg({ msn: 5, part: 2 }).playlist, 'the playlist text as bytes');
  t.equal(gunzipSync(state.gzipOf(e)).toString(), e.body!.toString(), 'gzipped once per message');
  t.equal(state.gzipOf(e), state.gzipOf(e), 'and shared');
});

t.test('a malformed message is dropped and logged about once a minute, never thrown', async (t) => {
  const { state, warnings, tick } = setup();
  for (const bad of [null, 'text', {}, { ...msg(), v: 2 }, { ...msg(), playbackId: '../etc' }, { ...msg(), extra: 1 }, { ...msg(), playlist: 'x'.repeat(300 * 1024) }]) {
    t.doesNotThrow(() => state.handle(bad));
  }
  t.equal(warnings.length, 1, 'seven bad messages, one warning');
  tick(61_000);
  state.handle({});
  t.equal(warnings.length, 2, 'another after a minute');
  t.equal(state.size(), 0, 'nothing was kept');
});

t.test('a new presentation replaces the state and wakes the waiters with reset', async (t) => {
  const { state } = setup();
  state.handle(msg({ msn: 40 }));
  const e = (await state.lookup(PID, '720p'))!;
  const seen: boolean[] = [];
  e.waiters.add({ wake: (_e: Entry, w) => (seen.push(w.reset), false) });
  state.handle(msg({ msn: 41, part: 0 }));
  state.handle(msg({ presentation: 'sess2', msn: 1, part: 0 }));
  t.same(seen, [false, true], 'the second woke with reset');
  t.match(e.msg, { presentation: 'sess2', msn: 1 }, 'a lower msn of a new presentation replaces the old');
});

t.test('a miss reads the last key from Redis once, then keeps it; a stream not known is asked again only after a while', async (t) => {
  const kept = { [lastKey('p', PID, '720p')]: JSON.stringify(msg({ msn: 9 })) };
  const { state, gets, tick } = setup({ kept });
  const [a, b] = await Promise.all([state.lookup(PID, '720p'), state.lookup(PID, '720p')]);
  t.match(a!.msg, { msn: 9 });
  t.equal(a, b);
  await state.lookup(PID, '720p');
  t.equal(gets.length, 1, 'one read for concurrent and later lookups');
  const none = await state.lookup(PID, '360p');
  t.equal(none!.msg, null, 'not known');
  await state.lookup(PID, '360p');
  t.equal(gets.length, 2, 'a miss is not asked again at once');
  tick(NEGATIVE_MS + 1);
  await state.lookup(PID, '360p');
  t.equal(gets.length, 3, '… but after a while');
});

t.test('bounded: at the cap the least recently used rendition without waiters goes; with waiters everywhere, nothing new is taken', async (t) => {
  const { state, tick } = setup({ maxEntries: 2 });
  state.handle(msg({ rendition: 'a' }));
  state.handle(msg({ rendition: 'b' }));
  await state.lookup(PID, 'a'); // a is now the most recently used
  state.handle(msg({ rendition: 'c' }));
  t.equal(state.size(), 2);
  t.ok((await state.lookup(PID, 'a'))!.msg, 'a kept');
  t.ok((await state.lookup(PID, 'c'))!.msg, 'c taken in, b made room');
  for (const r of ['a', 'c']) (await state.lookup(PID, r))!.waiters.add({ wake: () => false });
  t.equal(await state.lookup(PID, 'd'), null, 'full of held requests: refused');
  state.handle(msg({ rendition: 'd' }));
  t.equal(state.size(), 2, 'and a message for it dropped');
  tick(3_600_001);
  t.equal(state.sweep(), 0, 'idle entries with waiters stay');
});

t.test('idle renditions are forgotten after the TTL', async (t) => {
  const { state, tick } = setup();
  state.handle(msg());
  tick(3_600_001);
  t.equal(state.sweep(), 1);
  t.equal(state.size(), 0);
});

t.test('Accept-Encoding: gzip unless refused', async (t) => {
  t.ok(acceptsGzip('gzip, deflate, br'));
  t.ok(acceptsGzip('br;q=1.0, gzip;q=0.8'));
  t.ok(acceptsGzip('*'));
  t.notOk(acceptsGzip('gzip;q=0'));
  t.notOk(acceptsGzip('identity'));
  t.notOk(acceptsGzip(undefined));
});
