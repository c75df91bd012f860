import t from 'tap';
import { afterRun, publisherGone, whileAway, type PublishReading } from './transitions.js';

const open = (o: Partial<{ connection: number; streamStatus: 'offline' | 'starting' | 'live' | 'reconnecting' | 'failed' }> = {}) => ({
  ended: false,
  connection: o.connection ?? 1,
  streamStatus: o.streamStatus ?? 'live',
});

t.test('publisherGone: a live publish whose connection broke waits for the publisher; orders and refusals end it', async (t) => {
  const gone = (reason: string, o: Partial<Parameters<typeof publisherGone>[0]> = {}) =>
    publisherGone({ reason, connection: 1, graceSeconds: 20, publish: open(), ...o });
  t.equal(gone('publisher_left'), 'reconnect');
  t.equal(gone('publisher_silent'), 'reconnect', 'dropped by the idle watchdog (a network drop)');
  for (const reason of ['ingest_shutdown', 'key_revoked', 'key_regenerated', 'disabled', 'stopped', 'deleted', 'publish_ended', 'unsupported_codec', 'internal_error']) {
    t.equal(gone(reason), 'end', `${reason} ends it at once`);
  }
  t.equal(gone('publisher_left', { graceSeconds: 0 }), 'end', 'RECONNECT_GRACE_SECONDS=0: no grace');
  t.equal(gone('publisher_left', { publish: open({ streamStatus: 'starting' }) }), 'end', 'not live yet: nobody watches, nothing to keep');
  t.equal(gone('publisher_left', { publish: open({ streamStatus: 'failed' }) }), 'end', 'a failed transcode has nothing to continue');
  t.equal(gone('publisher_left', { publish: open({ streamStatus: 'reconnecting' }) }), 'reconnect', 'a resumed publish that drops again before its segments came back');
  t.equal(gone('publisher_left', { publish: open({ connection: 2 }) }), 'ignore', 'a newer connection continues the publish: the old one’s end is nothing');
  t.equal(gone('stopped', { publish: open({ connection: 2 }) }), 'ignore');
  t.equal(gone('publisher_left', { publish: { ...open(), ended: true } }), 'ignore', 'already ended');
  t.equal(gone('publisher_left', { publish: null }), 'ignore', 'no such publish');
});

const here = (connection = 1): PublishReading => ({ ended: false, connection, reconnectLeftMs: null });
const away = (leftMs: number, connection = 1): PublishReading => ({ ended: false, connection, reconnectLeftMs: leftMs });
const ended: PublishReading = { ended: true, connection: 1, reconnectLeftMs: null };

t.test('afterRun: what an ffmpeg stop means', async (t) => {
  t.equal(afterRun({ stop: 'lease-lost', publish: here(), connection: 1 }), 'hand-back');
  t.equal(afterRun({ stop: 'cancelled', publish: here(), connection: 1 }), 'finish', 'a cancel is the ingest ending the publish');
  t.equal(afterRun({ stop: 'publisher-gone', publish: null, connection: 1 }), 'finish');
  t.equal(afterRun({ stop: null, publish: 'gone', connection: 1 }), 'finish', 'the ingest holding the publisher is gone');
  t.equal(afterRun({ stop: null, publish: ended, connection: 1 }), 'finish', 'input ended because the publish ended');
  t.equal(afterRun({ stop: 'shutdown', publish: here(), connection: 1 }), 'hand-over');
  t.equal(afterRun({ stop: 'shutdown', publish: null, connection: 1 }), 'hand-over', 'the database does not answer: hand over, never end');
  t.equal(afterRun({ stop: 'shutdown', publish: ended, connection: 1 }), 'finish');
  t.equal(afterRun({ stop: null, publish: away(15_000), connection: 1 }), 'wait-for-publisher', 'input ended because the publisher dropped: no ENDLIST');
  t.equal(afterRun({ stop: 'reconnecting', publish: away(19_000), connection: 1 }), 'wait-for-publisher');
  t.equal(afterRun({ stop: null, publish: away(0), connection: 1 }), 'wait-for-publisher', 'the wait itself says the grace ran out');
  t.equal(afterRun({ stop: null, publish: here(2), connection: 1 }), 'resume', 'taken over by a new connection: pull that one');
  t.equal(afterRun({ stop: null, publish: here(1), connection: 1 }), 'restart', 'ffmpeg failed with its publisher there');
  t.equal(afterRun({ stop: null, publish: null, connection: 1 }), 'restart');
});

t.test('whileAway: back, ended, grace over, or wait', async (t) => {
  t.equal(whileAway(here(2)), 'resume');
  t.equal(whileAway(away(5_000)), 'wait');
  t.equal(whileAway(away(0)), 'expire');
  t.equal(whileAway(away(-300)), 'expire');
  t.equal(whileAway(ended), 'finish', 'an operator stopped it meanwhile');
  t.equal(whileAway(null), 'wait', 'the database does not answer: wait it out');
});
