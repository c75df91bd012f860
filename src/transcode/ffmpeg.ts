// Runs one ffmpeg child: argv array (never a shell), progress parsed from `-progress pipe:1`,
// a bounded ring of (redacted) stderr, and a stop that lets ffmpeg finish its playlists.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { redactText } from '../log.js';

export interface FfmpegProgress {
  fps: number | null;
  speed: number | null;
  bitrateKbps: number | null;
  outTimeSeconds: number | null;
}

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string[];
}

export interface FfmpegProcess {
  pid: number | undefined;
  /** The extra pipes ffmpeg writes to (`pipe:3`, `pipe:4`, …), in order. */
  pipes: Readable[];
  exited: Promise<FfmpegExit>;
  /** SIGINT (ffmpeg writes its trailers: EXT-X-ENDLIST), then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<FfmpegExit>;
  kill(): void;
}

const STDERR_LINES = 40;
/**
 * Warnings ffmpeg writes on every healthy run, left out of the tail: the tail's last line is what
 * the publish log and the logs call the reason a run ended. swscale writes this one when it
 * converts to a full-range JPEG format (the live thumbnail's yuvj420p), which is what we ask for.
 */
const EXPECTED_WARNING = /\] deprecated pixel format used, make sure you did set range correctly$/;
const SETPRIV = '/usr/bin/setpriv';

/** Parses one `-progress` block (key=value lines). Pure, for tests. */
export function parseProgressBlock(lines: string[]): FfmpegProgress {
  const kv = new Map<string, string>();
  for (const line of lines) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  const num = (v: string | undefined): number | null => {
    if (v === undefined) return null;
    const n = Number.parseFloat(v);
    return Number.isFinite(n) ? n : null;
  };
  const outUs = num(kv.get('out_time_us') ?? kv.get('out_time_ms')); // both are µs in ffmpeg 5
  return {
    fps: num(kv.get('fps')),
    speed: num(kv.get('speed')?.replace(/x$/, '')),
    bitrateKbps: num(kv.get('bitrate')?.replace(/kbits\/s$/, '')),
    outTimeSeconds: outUs === null ? null : Math.round(outUs / 1000) / 1000,
  };
}

/**
 * `env` is ffmpeg's whole environment (config.childEnv): it reads URLs a publisher influences, so
 * it must hold none of the worker's secrets.
 */
export function spawnFfmpeg(opts: {
  args: string[];
  env: Readonly<Record<string, string>>;
  onProgress?: (p: FfmpegProgress) => void;
  binary?: string;
  /** How many extra pipes to open for ffmpeg to write to (fd 3 on): see outputs.ts. */
  pipes?: number;
}): FfmpegProcess {
  const binary = opts.binary ?? 'ffmpeg';
  // If the worker dies (even by SIGKILL) the kernel kills ffmpeg too: no orphan keeps writing
  // a stream that another worker is about to take over.
  const [cmd, argv] = existsSync(SETPRIV)
    ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', binary, ...opts.args]]
    : [binary, opts.args];
  const extra = Array.from({ length: opts.pipes ?? 0 }, () => 'pipe' as const);
  const child: ChildProcess = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe', ...extra], env: { ...opts.env } });
  const pipes = extra.map((_, i) => child.stdio[3 + i] as Readable);
  const stderrTail: string[] = [];

  let errBuf = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    errBuf += chunk;
    let nl: number;
    while ((nl = errBuf.indexOf('\n')) >= 0) {
      const line = errBuf.slice(0, nl).trim();
      errBuf = errBuf.slice(nl + 1);
      if (!line || EXPECTED_WARNING.test(line)) continue;
      stderrTail.push(redactText(line).slice(0, 500));
      if (stderrTail.length > STDERR_LINES) stderrTail.shift();
    }
    if (errBuf.length > 8192) errBuf = errBuf.slice(-8192);
  });

  let outBuf = '';
  let block: string[] = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    outBuf += chunk;
    let nl: number;
    while ((nl = outBuf.indexOf('\n')) >= 0) {
      const line = outBuf.slice(0, nl);
      outBuf = outBuf.slice(nl + 1);
      block.push(line);
      if (line.startsWith('progress=')) {
        opts.onProgress?.(parseProgressBlock(block));
        block = [];
      }
      if (block.length > 100) block = [];
    }
  });

  const exited = new Promise<FfmpegExit>((resolve) => {
    child.once('error', (err) => {
      stderrTail.push(`could not start ffmpeg: ${err.message}`);
    });
    child.once('close', (code, signal) => resolve({ code, signal, stderrTail: [...stderrTail] }));
  });

  return {
    pid: child.pid,
    pipes,
    exited,
    kill: () => {
      child.kill('SIGKILL');
    },
    stop: async (graceMs = 5_000) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        return result;
      }
      return exited;
    },
  };
}
