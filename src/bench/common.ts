// Shared by the benchmarks: the cached synthetic source, child processes that cannot outlive
// the bench, CPU time of a child measured by the kernel, and the results file.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { chmodSync, closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { ensureTraversable, startPostgres, startRedis, type RunningService } from '../local/services.js';
import { silentLog } from '../log.js';
import { APP_ROOT, MIGRATIONS_DIR } from '../paths.js';

export const CACHE_DIR = path.join(os.tmpdir(), 'onair-bench');
export const RESULTS_DIR = path.join(APP_ROOT, 'bench', 'results');
const SETPRIV = '/usr/bin/setpriv';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const say = (text: string) => process.stdout.write(text + '\n');

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

// ---- children that never outlive the bench --------------------------------------------------

export interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderrTail(): string;
}

const live = new Set<Child>();
const cleanups: (() => Promise<void>)[] = [];
let ending = false;

/** True once the bench is stopping (Ctrl-C, error, deadline): loops end, no result is written. */
export function isEnding(): boolean {
  return ending;
}

/**
 * The kernel kills the command when its parent dies (even by SIGKILL), so an interrupted bench
 * leaves no ffmpeg or nginx running; without setpriv the exit handlers below still apply.
 */
export function withPdeathsig(command: string, args: string[]): [string, string[]] {
  return existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', command, ...args]] : [command, args];
}

/** Spawns in its own process group (Ctrl-C reaches only us; we stop children in order). */
export function startChild(
  name: string,
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdio?: StdioOptions; pdeathsig?: boolean } = {},
): Child {
  const [cmd, argv] = opts.pdeathsig === false ? [command, args] : withPdeathsig(command, args);
  const proc = spawn(cmd, argv, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: opts.stdio ?? ['ignore', 'ignore', 'pipe'], detached: true });
  let tail = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('error', (err) => {
      tail += `\ncould not start ${command}: ${err.message}`;
      resolve({ code: null, signal: null });
    });
    proc.once('close', (code, signal) => resolve({ code, signal }));
  });
  const child: Child = { name, process: proc, exited, stderrTail: () => tail.trim() };
  live.add(child);
  void exited.then(() => live.delete(child));
  return child;
}

function killGroup(child: Child, signal: NodeJS.Signals): void {
  const pid = child.process.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    child.process.kill(signal);
  }
}

/** Starts `node dist/bin/<bin>.js` from the app root, its stdout and stderr appended to logFile. */
export function startNodeBin(name: string, bin: string, env: NodeJS.ProcessEnv, logFile: string): Child {
  const out = openSync(logFile, 'a');
  try {
    return startChild(name, process.execPath, [path.join(APP_ROOT, 'dist', 'bin', `${bin}.js`)], { cwd: APP_ROOT, env, stdio: ['ignore', out, out] });
  } finally {
    closeSync(out); // the child holds its own copy
  }
}

/** A bench child process spoken to over IPC: `ask` sends a command and resolves with its reply. */
export interface IpcChild<C> {
  name: string;
  child: Child;
  ask<R>(command: C): Promise<R>;
}

/** Starts a node child with an IPC channel; it answers `{rid, command}` with `{rid, reply}` or `{rid, error}`. */
export function startIpcChild<C>(name: string, command: string, args: string[]): IpcChild<C> {
  const child = startChild(name, command, args, { cwd: APP_ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let rid = 0;
  const pending = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();
  child.process.on('message', (m: { rid: number; reply?: unknown; error?: string }) => {
    const p = pending.get(m.rid);
    if (!p) return;
    pending.delete(m.rid);
    if (m.error !== undefined) p.reject(new Error(`${name}: ${m.error}`));
    else p.resolve(m.reply);
  });
  void child.exited.then(({ code, signal }) => {
    for (const p of pending.values()) p.reject(new Error(`${name} exited (${signal ?? `code ${code}`}): ${child.stderrTail()}`));
    pending.clear();
  });
  return {
    name,
    child,
    ask: <R>(cmd: C) =>
      new Promise<R>((resolve, reject) => {
        const id = ++rid;
        pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
        child.process.send({ rid: id, command: cmd });
      }),
  };
}

/** Sends `signal`, waits up to graceMs, then SIGKILLs the child's whole process group. */
export async function stopChild(child: Child, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
  if (!live.has(child)) return;
  child.process.kill(signal);
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** Kills every child still running (measurements that have no graceful stop) and waits. */
export async function killAllChildren(): Promise<void> {
  const running = [...live];
  for (const c of running) killGroup(c, 'SIGKILL');
  await Promise.all(running.map((c) => c.exited));
}

/** Registers an async cleanup (run in reverse order at the end, on error and on Ctrl-C). */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    await fn().catch((err: unknown) => say(`cleanup step failed: ${err instanceof Error ? err.message : String(err)}`));
  }
}

/** Runs main with the cleanups guaranteed: normal end, thrown error, SIGINT/SIGTERM, deadline. */
export function runBench(name: string, main: () => Promise<void>, deadlineMs = 30 * 60_000): void {
  const finish = async (code: number) => {
    if (ending) return;
    ending = true;
    await runCleanups();
    process.exit(code);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      say(`\n${name}: interrupted; stopping children …`);
      void finish(130);
    });
  }
  // last resort when exiting without the cleanups (process.exit elsewhere): nothing survives us
  process.on('exit', () => {
    for (const c of live) killGroup(c, 'SIGKILL');
  });
  setTimeout(() => {
    say(`${name}: FAILED: still running after ${deadlineMs / 60_000} min; stopping.`);
    void finish(1);
  }, deadlineMs).unref();
  main().then(
    () => finish(0),
    (err: unknown) => {
      if (ending) return; // a child killed by the interrupt, not a failure of its own
      say(`${name}: FAILED: ${err instanceof Error ? err.message : String(err)}`);
      void finish(1);
    },
  );
}

/** Runs a command to completion; rejects with its stderr when it fails. */
export async function runToEnd(name: string, command: string, args: string[]): Promise<void> {
  const child = startChild(name, command, args);
  const { code, signal } = await child.exited;
  if (code !== 0) throw new Error(`${name} failed (${signal ?? `exit ${code}`}):\n${child.stderrTail()}`);
}

// ---- CPU time measured by the kernel ---------------------------------------------------------

// Node gives no rusage of a child. The shell waits for the command, then prints its own
// /proc stat to fd 3: cutime+cstime are the user+system ticks of every child it reaped, i.e.
// the command's CPU time across all its threads. The command's argv travels in "$@" and is
// never parsed by the shell.
const CPU_WRAPPER = '"$@"; s=$?; cat /proc/$$/stat >&3; exit $s';

export interface CpuRun {
  cpuSeconds: number;
  wallSeconds: number;
}

let clockTicks: number | null = null;

export async function clkTck(): Promise<number> {
  if (clockTicks !== null) return clockTicks;
  const child = startChild('getconf', 'getconf', ['CLK_TCK'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.process.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  await child.exited;
  const n = Number(out.trim());
  clockTicks = Number.isInteger(n) && n > 0 ? n : 100; // 100 on every Linux we ship to
  return clockTicks;
}

/** cutime + cstime (fields 16 and 17) from a /proc/<pid>/stat line; pure, for tests. */
export function childTicks(stat: string): number {
  // field 2 (comm) may hold spaces and parentheses: count fields after the last ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
  const cutime = Number(rest[13]);
  const cstime = Number(rest[14]);
  if (!Number.isFinite(cutime) || !Number.isFinite(cstime)) throw new Error(`unexpected /proc stat line: ${stat.slice(0, 200)}`);
  return cutime + cstime;
}

/**
 * The first fd a measured command may write to besides stdout/stderr: fd 3 carries the wrapper's
 * CPU figures (and the command inherits it), so a command's own pipes are `pipe:4`, `pipe:5`, …
 */
export const FIRST_PIPE_FD = 4;

/**
 * Runs the command to its end and returns its CPU (user+sys) and wall seconds. With `pipes`, the
 * command also gets that many pipes at fds FIRST_PIPE_FD… (the readers are handed to `onPipes` at
 * once, before the command can fill them).
 */
export async function measureCpu(name: string, command: string, args: string[], o: { pipes?: number; onPipes?: (streams: Readable[]) => void } = {}): Promise<CpuRun> {
  const ticks = await clkTck();
  // pdeathsig on both: if we die the shell dies, and then the command dies with it
  const [cmd, argv] = withPdeathsig(command, args);
  const started = performance.now();
  const extra: 'pipe'[] = Array(o.pipes ?? 0).fill('pipe');
  const child = startChild(name, '/bin/sh', ['-c', CPU_WRAPPER, 'sh', cmd, ...argv], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', ...extra] });
  o.onPipes?.(extra.map((_, i) => child.process.stdio[FIRST_PIPE_FD + i] as Readable));
  let stat = '';
  (child.process.stdio[3] as NodeJS.ReadableStream).setEncoding('utf8');
  (child.process.stdio[3] as NodeJS.ReadableStream).on('data', (c: string) => (stat += c));
  const { code, signal } = await child.exited;
  const wallSeconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${name} failed (${signal ?? `exit ${code}`}):\n${child.stderrTail()}`);
  return { cpuSeconds: childTicks(stat) / ticks, wallSeconds };
}

// ---- CPU and memory of a running process (Linux /proc) ---------------------------------------

function statFields(stat: string): string[] {
  // field 2 (comm) may hold spaces and parentheses: the fields after the last ')' start at field 3
  return stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
}

async function readProc(file: string): Promise<string | null> {
  return readFile(file, 'utf8').catch(() => null);
}

/** User + system CPU seconds a running process (all its threads) has used so far; null once it is gone. */
export async function processCpuSeconds(pid: number): Promise<number | null> {
  const stat = await readProc(`/proc/${pid}/stat`);
  if (stat === null) return null;
  const f = statFields(stat);
  const ticks = Number(f[11]) + Number(f[12]);
  return Number.isFinite(ticks) ? ticks / (await clkTck()) : null;
}

/**
 * CPU seconds of a process and everything under it: its own, its reaped children's (cutime,
 * cstime) and its live descendants' (e.g. Postgres and its backends); null once it is gone.
 */
export async function processTreeCpuSeconds(pid: number): Promise<number | null> {
  const ticks = await clkTck();
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const byParent = new Map<number, { pid: number; fields: string[] }[]>();
  let root: string[] | null = null;
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readProc(`/proc/${name}/stat`);
    if (stat === null) continue;
    const fields = statFields(stat);
    const p = Number(name);
    if (p === pid) root = fields;
    const ppid = Number(fields[1]);
    let list = byParent.get(ppid);
    if (!list) byParent.set(ppid, (list = []));
    list.push({ pid: p, fields });
  }
  if (root === null) return null;
  const own = (f: string[]) => Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  let total = own(root);
  const stack = [pid];
  while (stack.length > 0) {
    for (const c of byParent.get(stack.pop()!) ?? []) {
      total += own(c.fields);
      stack.push(c.pid);
    }
  }
  return total / ticks;
}

/** Resident set size in bytes (VmRSS from /proc/<pid>/status); null once the process is gone. */
export async function processRssBytes(pid: number): Promise<number | null> {
  const status = await readProc(`/proc/${pid}/status`);
  const m = status === null ? null : /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

// ---- how busy the machine is -----------------------------------------------------------------

export interface MachineCpu {
  busySeconds: number; // all CPUs: user, nice, system, irq, softirq (idle, iowait, steal excluded)
  stealSeconds: number; // taken by the hypervisor: a VM neighbour slows our runs
}

/** Cumulative CPU of the whole machine from /proc/stat, to see load that is not ours. */
export async function machineCpu(): Promise<MachineCpu> {
  const ticks = await clkTck();
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busySeconds: (user + nice + system + irq + softirq) / ticks, stealSeconds: steal / ticks };
}

/** Warns when other processes keep the machine busy: their load makes every figure noisy. */
export async function checkIdle(sampleMs = 2_000): Promise<number> {
  const before = await machineCpu();
  await sleep(sampleMs);
  const after = await machineCpu();
  const busyCpus = (after.busySeconds - before.busySeconds) / (sampleMs / 1000);
  if (busyCpus > 0.2) say(`WARNING: the machine is not idle (${busyCpus.toFixed(2)} CPUs busy before the bench); figures will be noisy.`);
  return round(busyCpus, 2);
}

// ---- the synthetic source --------------------------------------------------------------------

export interface SourceSpec {
  seconds: number;
  videoKbps: number;
  fps: number;
  gopSeconds: number;
}

export const OBS_LIKE_1080P: Omit<SourceSpec, 'seconds'> = { videoKbps: 4500, fps: 30, gopSeconds: 2 };

/** ffmpeg argv that encodes a 1080p H.264 + AAC FLV like an OBS CBR publish (pure). */
export function sourceArgs(spec: SourceSpec, out: string): string[] {
  const gop = String(spec.fps * spec.gopSeconds);
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=1920x1080:rate=${spec.fps}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    // yuv420p: testsrc2 is RGB, which would otherwise give High 4:4:4, unlike any real encoder
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p',
    '-g', gop, '-keyint_min', gop, '-sc_threshold', '0',
    '-b:v', `${spec.videoKbps}k`, '-maxrate', `${spec.videoKbps}k`, '-bufsize', `${spec.videoKbps * 2}k`,
    '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    '-t', String(spec.seconds),
    '-f', 'flv', out,
  ];
}

/** Encodes the source once and caches it under the OS temp dir (written whole, then renamed). */
export async function ensureSource(spec: SourceSpec): Promise<string> {
  await mkdir(CACHE_DIR, { recursive: true, mode: 0o755 });
  const file = path.join(CACHE_DIR, `src-1080p${spec.fps}-${spec.videoKbps}k-gop${spec.gopSeconds}s-${spec.seconds}s.flv`);
  if (existsSync(file)) return file;
  say(`Encoding the ${spec.seconds} s 1080p${spec.fps} source once (cached at ${file}) …`);
  const tmp = `${file}.${process.pid}.part`;
  try {
    await runToEnd('source encode', 'ffmpeg', sourceArgs(spec, tmp));
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
  return file;
}

/** Media duration in seconds, from ffprobe. */
export async function probeDuration(file: string): Promise<number> {
  const child = startChild('ffprobe', 'ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.process.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  await child.exited;
  const seconds = Number(out.trim());
  if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`ffprobe could not read the duration of ${file}: ${child.stderrTail()}`);
  return seconds;
}

// ---- results ---------------------------------------------------------------------------------

export function machineInfo(): { nproc: number; cpuModel: string } {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // not Linux: os.cpus() is the best we have
  }
  return { nproc: os.availableParallelism(), cpuModel };
}

export async function writeResult(name: string, data: unknown): Promise<string> {
  // an interrupted run's leftovers must not overwrite the last complete result
  if (ending) throw new Error('interrupted; no result written');
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  await writeFile(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

/** Embedded Postgres and Redis under dataDir (stopped at cleanup), the schema migrated, a small pool. */
export async function startBackingServices(dataDir: string): Promise<{ postgres: RunningService; redis: RunningService; db: pg.Pool; logDir: string }> {
  const logDir = path.join(dataDir, 'logs');
  await mkdir(logDir, { recursive: true, mode: 0o755 });
  ensureTraversable(dataDir, say);
  const services = { password: randomBytes(16).toString('hex'), logDir, onConsole: say };
  say('Starting the embedded PostgreSQL and Redis …');
  const postgres = await startPostgres({ dir: path.join(dataDir, 'postgres'), ...services });
  onCleanup(() => postgres.process.stop());
  const redis = await startRedis({ dir: path.join(dataDir, 'redis'), ...services });
  onCleanup(() => redis.process.stop());
  const db = createPool({ url: postgres.url, log: silentLog(), max: 4, applicationName: 'onair-bench' });
  onCleanup(() => db.end());
  await migrate({ pool: db, dir: MIGRATIONS_DIR, log: silentLog() });
  return { postgres, redis, db, logDir };
}

/** A whole-number setting of a benchmark from the environment; a bad value ends the run with a sentence naming it. */
export function benchInt(bench: string, o: { name: string; fallback: number; min: number; max: number }): number {
  const raw = process.env[o.name];
  if (raw === undefined || raw === '') return o.fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= o.min && n <= o.max) return n;
  say(`bench:${bench}: ${o.name} must be a whole number from ${o.min} to ${o.max}, but it is "${raw}".`);
  process.exit(2);
}

/**
 * A fresh work dir under the benchmarks' cache (its data dir holds the run's logs). It is kept
 * for a look afterwards unless the run says all went well with keep(false).
 */
export async function benchWorkDir(bench: string): Promise<{ work: string; keep(yes: boolean): void }> {
  await mkdir(CACHE_DIR, { recursive: true, mode: 0o755 });
  const work = await mkdtemp(path.join(CACHE_DIR, `${bench}-`));
  chmodSync(work, 0o755);
  let keepWork = true; // until the end: a failed run keeps its logs
  onCleanup(async () => {
    if (keepWork) say(`Kept ${work} (logs in ${path.join(work, 'data', 'logs')}).`);
    else await rm(work, { recursive: true, force: true });
  });
  return { work, keep: (yes) => void (keepWork = yes) };
}
