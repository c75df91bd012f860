// Child processes for the one-box start: spawned in their own process group (so Ctrl-C reaches
// only the supervisor, which stops them in order), killed by the kernel if the supervisor dies
// (setpriv --pdeathsig), restarted with backoff when they crash, output to a log file each.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { openRotatingLog, type Rotation } from './log-files.js';
import { planRestart, restartMessage } from './restart-backoff.js';

const SETPRIV = '/usr/bin/setpriv';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  runAs?: string | null; // a user to switch to (root only), e.g. postgres
  stopSignal?: NodeJS.Signals;
  restart?: boolean;
  /**
   * With restart: after an unexpected exit, SIGKILL what is left of its process group before the
   * restart. A SIGKILLed postmaster's orphan backends keep its shared memory (the new one refuses
   * to start while they live) and hold our output pipes; a long query would keep them for minutes.
   */
  reapGroupOnExit?: boolean;
  /** With restart: resolves once a restarted run serves (e.g. accepts connections), rejects when it gives up. */
  ready?: () => Promise<void>;
  /** Called with each output line; return a line for the console or null to keep it quiet. */
  consoleLine?: (line: string) => string | null;
}

export interface Managed {
  name: string;
  child(): ChildProcess | null;
  stop(timeoutMs?: number): Promise<void>;
  /** No more restarts from now on (shutdown has begun); a pending restart is dropped. */
  stopRestarting(): void;
  /** Resolves with the exit code of the first run (for one-shot children such as migrate). */
  firstExit: Promise<number | null>;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * A port free now, for a child to listen on shortly. Taken below Linux's ephemeral range
 * (32768–60999): a port the kernel hands out for "any port" is also what it gives outgoing
 * connections as their source port, so between our check and the child's bind a busy process
 * (10,000 RTMP connections in a test, a load generator) could take it and the child would fail
 * with EADDRINUSE.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await portIsFree(port, host)) return port;
  }
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function portIsFree(port: number, host = '0.0.0.0'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** Where a child's output goes: <logDir>/<name>.log, rotated by size (default 50 MiB, 5 files). */
export interface ChildLogOpts {
  logDir: string;
  onConsole: (text: string) => void;
  rotation?: Rotation;
}

export function startChild(spec: ChildSpec, opts: ChildLogOpts): Managed {
  mkdirSync(opts.logDir, { recursive: true, mode: 0o700 });
  const logFile = openRotatingLog(path.join(opts.logDir, `${spec.name}.log`), opts.rotation ?? { maxBytes: 50 * 1024 * 1024, files: 5 });
  let current: ChildProcess | null = null;
  let stopping = false;
  let exitsInARow = 0;
  let startedAt = 0;
  let runs = 0;
  let resolveFirst!: (code: number | null) => void;
  const firstExit = new Promise<number | null>((r) => (resolveFirst = r));
  let firstDone = false;
  /** What the supervisor says about a child goes to the console and into the child's own log. */
  const tell = (text: string) => {
    opts.onConsole(text);
    logFile.write(`${new Date().toISOString()} onair supervisor: ${text}\n`);
  };

  const launch = () => {
    const useSetpriv = existsSync(SETPRIV);
    const prefix = useSetpriv
      ? [SETPRIV, ...(spec.runAs && isRoot() ? ['--reuid', spec.runAs, '--regid', spec.runAs, '--init-groups'] : []), '--pdeathsig', 'SIGTERM', '--']
      : [];
    const [cmd, ...args] = [...prefix, spec.command, ...spec.args];
    startedAt = Date.now();
    runs += 1;
    const child = spawn(cmd!, args, { env: spec.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    current = child;
    const pipe = (stream: NodeJS.ReadableStream) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        logFile.write(chunk);
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const shown = spec.consoleLine ? spec.consoleLine(line) : line;
          if (shown) opts.onConsole(`[${spec.name}] ${shown}`);
        }
        if (buf.length > 65536) buf = '';
      });
    };
    pipe(child.stdout!);
    pipe(child.stderr!);
    child.once('error', (err) => opts.onConsole(`[${spec.name}] could not start: ${err.message}`));
    child.once('exit', () => {
      // 'close' waits for every holder of our pipes: a dead postmaster's orphans first
      if (!spec.restart || !spec.reapGroupOnExit || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // nothing left of the group
      }
    });
    child.once('close', (code, signal) => {
      current = null;
      if (!firstDone) {
        firstDone = true;
        resolveFirst(code);
      }
      if (!spec.restart) return;
      const how = signal ?? `code ${code}`;
      if (stopping) {
        // shutdown has begun: what dies now stays down (the rest is being stopped in order)
        if (child.pid !== undefined && !child.killed) tell(`[${spec.name}] exited (${how}) while stopping; not restarted.`);
        return;
      }
      const plan = planRestart({ exitsInARow, ranMs: Date.now() - startedAt });
      exitsInARow = plan.exitsInARow;
      tell(restartMessage({ name: spec.name, how, plan }));
      setTimeout(() => {
        if (stopping) return;
        launch();
        if (spec.ready) void announceReady(runs, Date.now());
      }, plan.delayMs).unref();
    });
  };

  /** A restarted run is back when it serves, not when it was spawned; said once per run. */
  const announceReady = async (run: number, since: number) => {
    try {
      await spec.ready!();
      if (run === runs && current && !stopping) tell(`[${spec.name}] is back: accepting connections ${((Date.now() - since) / 1000).toFixed(1)} s after its restart.`);
    } catch (err) {
      if (run === runs && current && !stopping) tell(`[${spec.name}] restarted but does not accept connections: ${(err as Error).message}`);
    }
  };
  launch();

  return {
    name: spec.name,
    child: () => current,
    firstExit,
    stopRestarting() {
      stopping = true;
    },
    async stop(timeoutMs = 15_000) {
      stopping = true;
      const child = current;
      if (!child || child.exitCode !== null || child.signalCode !== null) return void logFile.close();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          opts.onConsole(`[${spec.name}] did not stop in time; killing it.`);
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }, timeoutMs);
        child.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill(spec.stopSignal ?? 'SIGTERM');
      });
      logFile.close();
    },
  };
}
