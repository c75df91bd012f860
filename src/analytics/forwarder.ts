// Carries nginx's viewer lines to the API nodes. nginx writes one line per HLS request made with a
// playback token into a buffered log file (src/local/nginx-config.ts: 32 KiB buffers, flushed
// every second), which costs it next to nothing; this forwarder, running beside nginx (the nginx
// role, the one-box start, the tests), reads the new lines a few times a second and sends them
// in datagrams of up to ~8 KiB over UDP to every API node (at its HTTP port number), each sealed
// with an HMAC and a sequence number (viewer-datagram.ts) so nodes take nothing forged and no
// datagram twice. A node that is down misses them; the others fold the same lines, and repeats
// of a line count once (collector.ts, signals.ts).
// The file is rotated by size the way nginx expects: rename, USR1 (nginx reopens), read what is
// left of the old file, delete it. Nothing is lost across a rotation.
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, renameSync, unlinkSync } from 'node:fs';
import type { Log } from '../log.js';
import { createDatagramSealer } from './viewer-datagram.js';


/** Asks the nginx whose pid file this is to reopen its log files (after they were renamed); the
 *  one-box start's log rotation (local/log-files.ts) uses it for nginx's own logs too. */
export function reopenNginxLogs(pidFile: string): void {
  process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGUSR1');
}

const POLL_MS = 250;
const ROTATE_BYTES = 32 * 1024 * 1024;
const REOPEN_GRACE_MS = 3_000;
const READ_CHUNK = 1024 * 1024;

export interface ForwarderStats {
  lines: number;
  datagrams: number;
  sendErrors: number;
  rotations: number;
}

export function startViewerLineForwarder(o: {
  file: string;
  pidFile: string;
  upstreams: string[]; // host:port of every API node
  key: Buffer; // viewerDatagramKey(PLAYBACK_SECRET)
  log: Log;
  rotateBytes?: number;
}): { stop(): Promise<void>; stats: ForwarderStats } {
  const stats: ForwarderStats = { lines: 0, datagrams: 0, sendErrors: 0, rotations: 0 };
  const socket = createSocket('udp4');
  socket.on('error', () => stats.sendErrors++);
  const sealer = createDatagramSealer({ key: o.key });
  const targets = o.upstreams.map((u) => {
    const i = u.lastIndexOf(':');
    return { host: u.slice(0, i), port: Number(u.slice(i + 1)), addresses: [] as string[], resolvedAt: 0 };
  });
  let fd: number | null = null;
  let offset = 0;
  let partial = '';
  let old: { fd: number; offset: number; partial: string; until: number; path: string } | null = null;
  let warned = false;

  function readNew(handle: number, from: number): { text: string; to: number } {
    const size = fstatSync(handle).size;
    if (size < from) return { text: '', to: 0 }; // truncated behind our back: start over
    const parts: Buffer[] = [];
    let at = from;
    while (at < size) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, size - at));
      const n = readSync(handle, buf, 0, buf.length, at);
      if (n <= 0) break;
      parts.push(buf.subarray(0, n));
      at += n;
    }
    return { text: Buffer.concat(parts).toString('latin1'), to: at };
  }

  async function send(lines: string[]) {
    if (lines.length === 0) return;
    stats.lines += lines.length;
    const now = Date.now();
    for (const t of targets) {
      // every address a name has (compose: a scaled api service), looked up again each minute
      if (t.addresses.length === 0 || now - t.resolvedAt > 60_000) {
        t.addresses = await lookup(t.host, { family: 4, all: true }).then((r) => r.map((a) => a.address), () => t.addresses);
        t.resolvedAt = now;
      }
    }
    for (const d of sealer.seal(lines)) {
      for (const t of targets) {
        for (const address of t.addresses) {
          stats.datagrams++;
          socket.send(d, t.port, address, (err) => {
            if (err) stats.sendErrors++;
          });
        }
      }
    }
  }

  const split = (text: string, carry: string): { lines: string[]; rest: string } => {
    const all = (carry + text).split('\n');
    const rest = all.pop() ?? '';
    return { lines: all.filter((l) => l.length > 0), rest };
  };

  async function poll() {
    if (fd === null && existsSync(o.file)) {
      fd = openSync(o.file, 'r'); // (nginx creates the file when it starts or reopens)
      offset = 0;
      partial = '';
    }
    if (fd !== null) {
      const fresh = readNew(fd, offset);
      offset = fresh.to;
      const now = split(fresh.text, partial);
      partial = now.rest;
      await send(now.lines);
    }

    if (old) {
      const rest = readNew(old.fd, old.offset);
      old.offset = rest.to;
      const tail = split(rest.text, old.partial);
      old.partial = tail.rest;
      await send(tail.lines);
      if (Date.now() > old.until) {
        closeSync(old.fd);
        unlinkSync(old.path);
        old = null;
      }
    } else if (fd !== null && offset >= (o.rotateBytes ?? ROTATE_BYTES)) {
      // rotate: nginx keeps writing to the renamed file until USR1 makes it reopen the path
      const path = `${o.file}.1`;
      renameSync(o.file, path);
      old = { fd, offset, partial, until: Date.now() + REOPEN_GRACE_MS, path };
      fd = null;
      stats.rotations++;
      try {
        reopenNginxLogs(o.pidFile);
      } catch (err) {
        o.log.warn({ err: (err as Error).message }, 'Could not ask nginx to reopen its viewer log.');
      }
    }
  }

  let running = true;
  let busy: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    busy = busy.then(() =>
      running
        ? poll().then(
            () => void (warned = false),
            (err: unknown) => {
              if (!warned) o.log.warn({ err: (err as Error).message }, 'Reading nginx’s viewer log failed; retrying.');
              warned = true;
            },
          )
        : undefined,
    );
  }, POLL_MS);
  return {
    stats,
    async stop() {
      clearInterval(timer);
      running = false;
      await busy;
      if (old) old.until = 0; // read what is left of a rotated file, then remove it
      await poll().catch(() => undefined); // what nginx flushed last
      if (old) {
        closeSync(old.fd);
        unlinkSync(old.path);
      }
      if (fd !== null) closeSync(fd);
      socket.close();
    },
  };
}
