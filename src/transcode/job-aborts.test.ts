import t from 'tap';
import { createJobAborts } from './job-aborts.js';

t.test('a cancel reaches every running copy of a job id, also one BullMQ forgot', async (t) => {
  const aborts = createJobAborts();
  const bullFirst = new AbortController();
  const first = aborts.track('live-1', bullFirst.signal);
  const second = aborts.track('live-1', new AbortController().signal);
  const other = aborts.track('live-2', undefined);
  aborts.cancel('live-1', 'cancelled');
  t.same([first.signal.reason, second.signal.reason, other.signal.aborted], ['cancelled', 'cancelled', false]);
  aborts.cancelAll('shutdown');
  t.equal(other.signal.reason, 'shutdown');
});

t.test('BullMQ’s own signal still aborts its copy; a finished copy is forgotten', async (t) => {
  const aborts = createJobAborts();
  const bull = new AbortController();
  const run = aborts.track('live-3', bull.signal);
  bull.abort('shutdown');
  t.equal(run.signal.reason, 'shutdown');
  const later = aborts.track('live-4', undefined);
  later.done();
  aborts.cancelAll('shutdown');
  t.notOk(later.signal.aborted, 'done: no longer reachable');
});
