// Child processes for the one-box start: spawned in their own process group (so Ctrl-C reaches
// only the supervisor, which stops them in order), killed by the kernel if the supervisor dies
// (setpriv --pdeathsig), restarted with backoff when they crash, output to a log file each.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { openRotatingLog, type Rotation } from './log-files.js';

const SETPRIV = '/usr/bin/setpriv';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  runAs?: string | null; // a user to switch to (root only), e.g. postgres
  stopSignal?: NodeJS.Signals;
  restart?: boolean;
  /** Called with each output line; return a line for the console or null to keep it quiet. */
  consoleLine?: (line: string) => string | null;
}

export interface Managed {
  name: string;
  child(): ChildProcess | null;
  stop(timeoutMs?: number): Promise<void>;
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
  let restarts = 0;
  let startedAt = 0;
  let resolveFirst!: (code: number | null) => void;
  const firstExit = new Promise<number | null>((r) => (resolveFirst = r));
  let firstDone = false;

  const launch = () => {
    const useSetpriv = existsSync(SETPRIV);
    const prefix = useSetpriv
      ? [SETPRIV, ...(spec.runAs && isRoot() ? ['--reuid', spec.runAs, '--regid', spec.runAs, '--init-groups'] : []), '--pdeathsig', 'SIGTERM', '--']
      : [];
    const [cmd, ...args] = [...prefix, spec.command, ...spec.args];
    startedAt = Date.now();
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
    child.once('close', (code, signal) => {
      current = null;
      if (!firstDone) {
        firstDone = true;
        resolveFirst(code);
      }
      if (stopping || !spec.restart) return;
      // back off on crash loops; a run that lasted a minute resets the count
      if (Date.now() - startedAt > 60_000) restarts = 0;
      restarts += 1;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(restarts - 1, 6));
      opts.onConsole(`[${spec.name}] exited (${signal ?? `code ${code}`}); restarting in ${(delay / 1000).toFixed(1)} s.`);
      setTimeout(() => {
        if (!stopping) launch();
      }, delay).unref();
    });
  };
  launch();

  return {
    name: spec.name,
    child: () => current,
    firstExit,
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
