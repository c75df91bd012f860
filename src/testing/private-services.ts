// A Postgres and a Redis of one test file's own, for the outage drills: frozen (SIGSTOP: up but
// not answering), killed (SIGKILL) or restarted on the same port and data dir, without touching
// the servers every other test file shares.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Managed } from '../local/processes.js';
import { freePort } from '../local/processes.js';
import { startPostgres, startRedis, type RunningService } from '../local/services.js';
import { testDir, type Teardown } from './harness.js';

export interface ServiceControl {
  url: string;
  /** SIGSTOP to the server and every process it forked: connections stay open, nothing answers. */
  freeze(): void;
  thaw(): void;
  /** SIGKILL to the server's main process only (a crash: Postgres backends linger as orphans for a moment). */
  kill(): Promise<void>;
  /** A clean stop (Postgres fast shutdown, Redis SIGTERM). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir; retried while a killed predecessor's leftovers are in the way. */
  start(): Promise<void>;
}

export interface PrivateServices {
  postgres: ServiceControl;
  redis: ServiceControl;
}

export async function privateServices(t: Teardown): Promise<PrivateServices> {
  const dir = testDir('services');
  const logDir = path.join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const password = randomBytes(16).toString('hex');
  const common = { password, logDir, onConsole: () => undefined };
  const postgres = await control(t, {
    name: 'postgres',
    launch: (port) => startPostgres({ dir: path.join(dir, 'postgres'), port, ...common }),
  });
  const redis = await control(t, {
    name: 'redis',
    launch: (port) => startRedis({ dir: path.join(dir, 'redis'), port, ...common }),
  });
  return { postgres, redis };
}

async function control(t: Teardown, o: { name: string; launch(port: number): Promise<RunningService> }): Promise<ServiceControl> {
  const port = await freePort();
  const started = await o.launch(port);
  let running: Managed = started.process;
  const pid = () => running.child()?.pid ?? null;
  const signalGroup = (signal: NodeJS.Signals) => {
    const p = pid();
    if (p === null) return;
    // detached children lead their own process group; but Postgres puts every process it forks
    // (backends, checkpointer …) in a session of its own (setsid), so they are signalled one by one
    for (const target of [p, ...childrenOf(p)]) {
      try {
        process.kill(target === p ? -p : target, signal);
      } catch {
        try {
          process.kill(target, signal);
        } catch {
          // gone meanwhile
        }
      }
    }
  };
  const exited = (m: Managed) =>
    new Promise<void>((resolve) => {
      const c = m.child();
      if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('close', () => resolve());
    });
  const ctl: ServiceControl = {
    url: started.url,
    freeze: () => signalGroup('SIGSTOP'),
    thaw: () => signalGroup('SIGCONT'),
    async kill() {
      const c = running.child();
      if (!c) return;
      c.kill('SIGKILL');
      await exited(running);
    },
    async stop() {
      signalGroup('SIGCONT');
      await running.stop();
    },
    async start() {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          running = (await o.launch(port)).process;
          return;
        } catch (err) {
          // e.g. a killed postmaster's orphan backends still hold its shared memory
          if (Date.now() > deadline) throw new Error(`${o.name} did not start again: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    },
  };
  t.teardown(async () => {
    signalGroup('SIGCONT');
    await running.stop(5_000);
  });
  return ctl;
}

/** The pids whose parent is `parent` (Linux /proc). */
function childrenOf(parent: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
