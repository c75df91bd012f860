// A task run every so often, one pass at a time: a pass still running when the next is due is
// not doubled up (a slow database must not pile passes up), a failed pass waits for the next, and
// stop() waits for the pass in flight.
export interface Every {
  stop(): Promise<void>;
}

export function every(ms: number, pass: () => Promise<unknown>): Every {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = pass().catch(() => undefined).finally(() => (running = null));
  }, ms);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
