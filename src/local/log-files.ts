// Log files of the one-box start: a folder other local users cannot read, and rotation by size
// (LOG_MAX_BYTES, keeping LOG_FILES files: name.log, name.log.1 … name.log.<LOG_FILES-1>).
// A role's output is written by the supervisor, which rotates it itself between two writes, so no
// line is lost or split. nginx writes its own files: they are rotated the nginx way, as the
// viewer-line forwarder does — rename, then USR1 (nginx reopens the path; until then it keeps
// writing to the renamed file, so nothing is lost either).
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { reopenNginxLogs } from '../analytics/forwarder.js';

export interface Rotation {
  maxBytes: number;
  /** How many files a log keeps, the live one included. */
  files: number;
}

/** name.log → name.log.1 → … → name.log.<files-1>; the oldest is dropped. */
export function shiftLogFiles(file: string, files: number): void {
  if (files <= 1) return void rmSync(file, { force: true });
  rmSync(`${file}.${files - 1}`, { force: true });
  for (let i = files - 2; i >= 1; i--) if (existsSync(`${file}.${i}`)) renameSync(`${file}.${i}`, `${file}.${i + 1}`);
  if (existsSync(file)) renameSync(file, `${file}.1`);
}

/** Creates the file (empty, 0600) unless it exists: nginx then appends to it and keeps its mode. */
export function createPrivateFile(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

/**
 * An append-only log file that rotates itself so that no file passes maxBytes and every line
 * stays whole in one file (a single line longer than the limit gets a file of its own).
 */
export function openRotatingLog(file: string, rotation: Rotation): { write(text: string): void; close(): void } {
  let fd: number | null = openSync(file, 'a', 0o600);
  let size = fstatSync(fd).size;
  let atLineStart = true;
  const put = (b: Buffer) => {
    for (let at = 0; at < b.length; ) at += writeSync(fd!, b, at);
    size += b.length;
    atLineStart = b[b.length - 1] === 0x0a;
  };
  const rotate = () => {
    closeSync(fd!);
    shiftLogFiles(file, rotation.files);
    fd = openSync(file, 'a', 0o600);
    size = 0;
  };
  const lineEnd = (b: Buffer) => {
    const nl = b.indexOf(0x0a);
    return nl < 0 ? b.length : nl + 1;
  };
  return {
    write(text) {
      if (fd === null) return;
      let rest = Buffer.from(text, 'utf8');
      while (rest.length > 0) {
        const room = rotation.maxBytes - size;
        if (rest.length <= room) return put(rest);
        // what fits, ending at a line's end; a line begun in this file is finished here
        let cut = room > 0 ? rest.lastIndexOf(0x0a, room - 1) + 1 : 0;
        if (cut === 0 && (!atLineStart || size === 0)) cut = lineEnd(rest);
        if (cut > 0) {
          put(rest.subarray(0, cut));
          rest = rest.subarray(cut);
        }
        if (rest.length > 0 && atLineStart) rotate();
      }
    },
    close() {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}

/**
 * Watches nginx's own log files and rotates one once it passes maxBytes. Call stop() before
 * nginx stops. Errors (nginx restarting, pid file missing) are retried on the next tick.
 */
export function rotateNginxLogs(o: { files: string[]; pidFile: string; rotation: Rotation; everyMs?: number; onError?: (err: Error) => void }): { stop(): void } {
  const timer = setInterval(() => {
    for (const file of o.files) {
      try {
        if (!existsSync(file) || statSync(file).size < o.rotation.maxBytes) continue;
        shiftLogFiles(file, o.rotation.files);
        createPrivateFile(file); // nginx would create it 0644
        reopenNginxLogs(o.pidFile);
      } catch (err) {
        o.onError?.(err as Error);
      }
    }
  }, o.everyMs ?? 1_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/**
 * The log folder: readable by its owner only (0700). As root, nginx's workers (www-data) must
 * still reopen nginx's files in it after a rotation, so it is root:www-data 0750 — and every file
 * in it 0600, so not even nginx's user reads the roles' logs.
 */
export function secureLogDir(dir: string, o: { nginxUser: string | null }): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const gid = o.nginxUser ? groupOf(o.nginxUser) : null;
  if (gid !== null) {
    chownSync(dir, 0, gid);
    chmodSync(dir, 0o750);
  } else chmodSync(dir, 0o700);
  for (const f of readdirSync(dir)) {
    const p = path.join(dir, f);
    if (statSync(p).isFile()) chmodSync(p, 0o600);
  }
}

function groupOf(user: string): number | null {
  try {
    return Number(execFileSync('id', ['-g', user], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
  } catch {
    return null;
  }
}
