// The replay guard's memory: a window of sequence numbers per forwarder instance that slides
// forward, takes late arrivals within it once, and refuses what fell out of it.
import t from 'tap';
import { createDatagramSealer, createReplayGuard, MAX_AGE_MS, openDatagram, viewerDatagramKey } from './viewer-datagram.js';

t.test('each sequence number once per instance, within a sliding window', async (t) => {
  let clock = 1_800_000_000_000;
  const guard = createReplayGuard({ now: () => clock });
  const d = (seq: number, instance = 'a'.repeat(16)) => ({ instance, seq, sentAt: clock });
  t.same([1, 3, 2, 3, 1].map((s) => guard.admit(d(s))), ['accepted', 'accepted', 'accepted', 'replayed', 'replayed'], 'out of order is fine; twice is not');
  t.equal(guard.admit(d(1, 'b'.repeat(16))), 'accepted', 'another forwarder instance has numbers of its own');
  t.equal(guard.admit(d(100_000)), 'accepted', 'a jump ahead slides the window');
  t.equal(guard.admit(d(3)), 'stale', 'what fell out of the window is refused');
  t.equal(guard.admit(d(100_000 - 65_535)), 'accepted', 'the oldest number still inside is taken, once');
  t.equal(guard.admit(d(100_000 - 65_535)), 'replayed');
  t.equal(guard.admit({ instance: 'c'.repeat(16), seq: 1, sentAt: clock - MAX_AGE_MS - 1 }), 'stale', 'sent over a minute ago');
  t.equal(guard.admit({ instance: 'c'.repeat(16), seq: 1, sentAt: clock + MAX_AGE_MS + 1 }), 'stale', 'or a minute ahead');
  t.equal(guard.instances, 2, 'a refused datagram leaves no trace');
});

t.test('the HMAC covers the whole datagram, header included', async (t) => {
  const key = viewerDatagramKey('0123456789abcdef0123456789abcdef');
  const [d] = createDatagramSealer({ key, now: () => 1_800_000_000_000 }).seal(['a line']);
  t.match(openDatagram(d!, key), { seq: 1, sentAt: 1_800_000_000_000, body: 'a line\n' });
  const text = d!.subarray(32).toString('latin1');
  for (const forged of [text.replace(' 1 ', ' 2 '), text.replace('1800000000000', '1800000000001'), text.replace(/^onair-viewers\/2 [0-9a-f]{16}/, `onair-viewers/2 ${'0'.repeat(16)}`)]) {
    t.equal(openDatagram(Buffer.concat([d!.subarray(0, 32), Buffer.from(forged, 'latin1')]), key), null, 'a changed header is refused');
  }
});
