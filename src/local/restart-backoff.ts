// When the one-box supervisor restarts a child that died: at once-ish after a long healthy run,
// ever later while it keeps dying soon after each start (a crash loop: a port taken, a config
// error, a killed postmaster's orphans still holding its shared memory), and it says so.

/** A run this long counts as healthy: the next exit starts the backoff afresh. */
export const HEALTHY_RUN_MS = 60_000;
export const FIRST_DELAY_MS = 500;
export const MAX_DELAY_MS = 30_000;
/** From this many exits in a row the console and the log call it a crash loop. */
export const CRASH_LOOP_EXITS = 3;

export interface RestartPlan {
  /** Exits in a row, each soon after its start, counting this one. */
  exitsInARow: number;
  delayMs: number;
  crashLoop: boolean;
}

/** What to do after an exit, given the exits in a row before it and how long this run lasted. */
export function planRestart(o: { exitsInARow: number; ranMs: number }): RestartPlan {
  const exitsInARow = o.ranMs >= HEALTHY_RUN_MS ? 1 : o.exitsInARow + 1;
  // 0.5 s, 1 s, 2 s … capped at 30 s
  const delayMs = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(exitsInARow - 1, 16));
  return { exitsInARow, delayMs, crashLoop: exitsInARow >= CRASH_LOOP_EXITS };
}

/** The console and log line for an exit that will be followed by a restart. */
export function restartMessage(o: { name: string; how: string; plan: RestartPlan }): string {
  const base = `[${o.name}] exited (${o.how}); restarting in ${(o.plan.delayMs / 1000).toFixed(1)} s`;
  if (!o.plan.crashLoop) return `${base}.`;
  return `${base} (crash loop: ${o.plan.exitsInARow} exits in a row, each within ${HEALTHY_RUN_MS / 1000} s of starting; backing off up to ${MAX_DELAY_MS / 1000} s; see its log).`;
}
