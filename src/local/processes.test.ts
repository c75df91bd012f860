// startChild's restarts with real processes: a crash loop backs off and says so (console and the
// child's log), nothing is restarted once shutdown has begun, a dead server's leftover group is
// reaped so its restart is not held up, and a restarted run is announced when it serves.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { waitFor } from '../testing/harness.js';
import { startChild, type Managed } from './processes.js';

function supervised(t: Test, spec: Parameters<typeof startChild>[0]) {
  const logDir = mkdtempSync(path.join(tmpdir(), 'onair-proc-'));
  const lines: string[] = [];
  const m: Managed = startChild(spec, { logDir, onConsole: (l) => lines.push(l) });
  t.teardown(() => m.stop(2_000));
  return { m, lines, log: () => readFileSync(path.join(logDir, `${spec.name}.log`), 'utf8') };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

t.test('a child that keeps dying at start is restarted ever later and called a crash loop', async (t) => {
  const s = supervised(t, { name: 'flaky', command: 'sh', args: ['-c', 'exit 3'], restart: true });
  // exits at 0, 0.5, 1.5 s: the third restart is announced as a crash loop
  await waitFor(() => s.lines.length >= 3, { what: 'three exits', timeoutMs: 20_000 });
  t.same(s.lines.slice(0, 2), ['[flaky] exited (code 3); restarting in 0.5 s.', '[flaky] exited (code 3); restarting in 1.0 s.']);
  t.match(s.lines[2], /^\[flaky\] exited \(code 3\); restarting in 2\.0 s \(crash loop: 3 exits in a row/);
  t.match(s.log(), /onair supervisor: \[flaky\] exited \(code 3\); restarting in 2\.0 s \(crash loop/, 'and in its log file');
});

t.test('once shutdown has begun, a child that dies stays down', async (t) => {
  const s = supervised(t, { name: 'server', command: 'sleep', args: ['300'], restart: true });
  const first = s.m.child()!;
  s.m.stopRestarting();
  process.kill(first.pid!, 'SIGKILL'); // from outside, as a crash
  await waitFor(() => s.lines.some((l) => l.includes('not restarted')), { what: 'the supervisor to notice', timeoutMs: 5_000 });
  t.same(s.lines, ['[server] exited (SIGKILL) while stopping; not restarted.']);
  await new Promise((r) => setTimeout(r, 1_500)); // past the first restart delay
  t.equal(s.m.child(), null, 'no new run');
});

t.test("a killed server's leftover processes are reaped; the restart is announced when it serves", async (t) => {
  // like a postmaster and its backends: a helper in the same process group, holding our pipes
  let serving = false;
  const s = supervised(t, {
    name: 'server',
    command: 'sh',
    args: ['-c', 'sleep 300 & echo "helper $!"; exec sleep 300'],
    restart: true,
    reapGroupOnExit: true,
    ready: () => waitFor(() => serving, { what: 'serving', timeoutMs: 10_000 }).then(() => undefined),
  });
  const helper = Number(await waitFor(() => /\[server\] helper (\d+)/.exec(s.lines.join('\n'))?.[1], { what: 'the helper', timeoutMs: 5_000 }));
  const first = s.m.child()!;
  process.kill(first.pid!, 'SIGKILL'); // from outside, as a crash
  await waitFor(() => s.lines.some((l) => l.startsWith('[server] exited (SIGKILL); restarting in 0.5 s.')), { what: 'the restart (not held up by the helper)', timeoutMs: 5_000 });
  t.notOk(alive(helper), 'the orphaned helper was killed');
  await waitFor(() => s.m.child() && s.m.child() !== first, { what: 'a new run', timeoutMs: 5_000 });
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(s.lines.some((l) => l.includes('is back')), 'not announced while it does not serve');
  serving = true;
  await waitFor(() => s.lines.some((l) => /^\[server\] is back: accepting connections [\d.]+ s after its restart\.$/.test(l)), { what: 'the announcement', timeoutMs: 5_000 });
  t.match(s.log(), /onair supervisor: \[server\] is back/);
});
