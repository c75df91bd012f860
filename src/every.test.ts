import t from 'tap';
import { every } from './every.js';

t.test('one pass at a time, a failed pass waits for the next, stop waits for the pass in flight', async (t) => {
  let started = 0;
  let finished = 0;
  let release: () => void = () => undefined;
  const task = every(10, async () => {
    started += 1;
    if (started === 1) throw new Error('database away');
    await new Promise<void>((r) => (release = r));
    finished += 1;
  });
  await new Promise((r) => setTimeout(r, 80));
  t.equal(started, 2, 'the failed first pass is followed by a second; the slow second is not doubled up');
  const stopping = task.stop();
  let stoppedYet = false;
  void stopping.then(() => (stoppedYet = true));
  await new Promise((r) => setTimeout(r, 20));
  t.equal(stoppedYet, false, 'stop waits for the pass in flight');
  release();
  await stopping;
  t.equal(finished, 1);
  await new Promise((r) => setTimeout(r, 40));
  t.equal(started, 2, 'no pass after stop');
});
