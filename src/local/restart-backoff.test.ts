import t from 'tap';
import { CRASH_LOOP_EXITS, HEALTHY_RUN_MS, MAX_DELAY_MS, planRestart, restartMessage } from './restart-backoff.js';

t.test('exits soon after each start back off 0.5 s, 1 s, 2 s … up to 30 s', async (t) => {
  let exitsInARow = 0;
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    const plan = planRestart({ exitsInARow, ranMs: 200 });
    exitsInARow = plan.exitsInARow;
    delays.push(plan.delayMs);
  }
  t.same(delays, [500, 1_000, 2_000, 4_000, 8_000, 16_000, MAX_DELAY_MS, MAX_DELAY_MS, MAX_DELAY_MS]);
  t.equal(planRestart({ exitsInARow: 1_000, ranMs: 0 }).delayMs, MAX_DELAY_MS, 'no overflow however long the loop');
});

t.test('a run that lasted a minute starts afresh: the first restart after a long healthy run is quick', async (t) => {
  t.same(planRestart({ exitsInARow: 7, ranMs: HEALTHY_RUN_MS }), { exitsInARow: 1, delayMs: 500, crashLoop: false });
  t.same(planRestart({ exitsInARow: 0, ranMs: 3 * 3600_000 }), { exitsInARow: 1, delayMs: 500, crashLoop: false });
  t.equal(planRestart({ exitsInARow: 7, ranMs: HEALTHY_RUN_MS - 1 }).exitsInARow, 8, 'a shorter run keeps counting');
});

t.test('from the third quick exit in a row it is called a crash loop, on the console and in the log', async (t) => {
  const plans = [0, 1, 2].map((n) => planRestart({ exitsInARow: n, ranMs: 100 }));
  t.same(plans.map((p) => p.crashLoop), [false, false, true]);
  t.equal(CRASH_LOOP_EXITS, 3);
  t.equal(restartMessage({ name: 'postgres', how: 'SIGKILL', plan: plans[0]! }), '[postgres] exited (SIGKILL); restarting in 0.5 s.');
  t.match(restartMessage({ name: 'postgres', how: 'code 1', plan: plans[2]! }), /^\[postgres\] exited \(code 1\); restarting in 2\.0 s \(crash loop: 3 exits in a row, each within 60 s of starting; backing off up to 30 s; see its log\)\.$/);
});
