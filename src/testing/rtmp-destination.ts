// RTMP destinations for relay tests, all real: Debian's nginx with libnginx-mod-rtmp recording
// what it receives (optionally accepting one stream key only, through its on_publish hook), a
// TLS terminator (stunnel4) with a test CA in front of it, a throttling TCP proxy (a slow
// destination), and ffmpeg writing a test pattern as FLV to its stdout (the relay's source).
import { nginxRtmpPreamble, RTMP_MODULE } from './nginx-rtmp.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { freePort, isRoot } from '../local/processes.js';
import { run, testDir, waitFor, type Teardown } from './harness.js';

export const STUNNEL = '/usr/bin/stunnel4';

export interface RtmpDestination {
  port: number;
  dir: string;
  /** Stream names nginx-rtmp asked the hook about (only with acceptKey or recordEvents). */
  publishNames: string[];
  /** Every publish and publish_done nginx-rtmp reported, in order, with the time it came (only with recordEvents). */
  events: PublishEvent[];
  /** What nginx recorded for a stream name (record all, one file per name). */
  recording(name: string): string;
  stop(): Promise<void>;
  /** Starts nginx again after stop(): same port, directory and hook (a destination that comes back). */
  restart(): Promise<void>;
}

function spawnKept(t: Teardown, cmd: string, args: string[]): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  t.teardown(stop);
  return { child, output: () => out, stop };
}

const listening = (port: number) =>
  new Promise<boolean>((r) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
    s.once('error', () => r(false));
  });

export interface PublishEvent {
  call: 'publish' | 'publish_done';
  name: string;
  at: number; // Date.now() when the hook was called
}

/**
 * A tiny on_publish / on_publish_done endpoint: publish answers 2xx for the one accepted key and
 * 403 for any other (any key when acceptKey is undefined); publish_done is always 2xx.
 */
async function startPublishHook(t: Teardown, o: { acceptKey: string | undefined; names: string[]; events: PublishEvent[] }): Promise<number> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const name = new URLSearchParams(body).get('name') ?? '';
      if (req.url === '/on_publish_done') {
        o.events.push({ call: 'publish_done', name, at: Date.now() });
        res.writeHead(200).end();
        return;
      }
      o.names.push(name);
      o.events.push({ call: 'publish', name, at: Date.now() });
      res.writeHead(o.acceptKey === undefined || name === o.acceptKey ? 200 : 403).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

/**
 * nginx-rtmp on a free port, application `live`, recording every stream to <dir>/rec/<name>.flv.
 * acceptKey: only that stream name may publish. recordEvents: every publish and publish_done is
 * kept in `events` (to see that a destination never has two publishers at once).
 */
export async function startRtmpDestination(t: Teardown, o: { acceptKey?: string; recordEvents?: boolean } = {}): Promise<RtmpDestination> {
  if (!existsSync(RTMP_MODULE)) throw new Error(`${RTMP_MODULE} is missing: npm test installs libnginx-mod-rtmp (or apt-get install libnginx-mod-rtmp).`);
  const dir = testDir('rtmp-dest');
  await mkdir(path.join(dir, 'rec'), { recursive: true, mode: 0o777 });
  const publishNames: string[] = [];
  const events: PublishEvent[] = [];
  const hooked = o.acceptKey !== undefined || o.recordEvents === true;
  const hookPort = hooked ? await startPublishHook(t, { acceptKey: o.acceptKey, names: publishNames, events }) : null;
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(
    conf,
    `${nginxRtmpPreamble({ dir, user: isRoot() ? 'root' : null, logLevel: 'info', connections: 64 })}rtmp {
  server {
    listen 127.0.0.1:${port};
    chunk_size 4096;
    application live {
      live on;
      record all;
      record_path ${dir}/rec;
      record_unique off;
      ${hookPort ? `on_publish http://127.0.0.1:${hookPort}/on_publish;` : ''}
      ${hookPort ? `on_publish_done http://127.0.0.1:${hookPort}/on_publish_done;` : ''}
    }
  }
}
`,
  );
  let nginx: ReturnType<typeof spawnKept>;
  const start = async () => {
    nginx = spawnKept(t, 'nginx', ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')]);
    await waitFor(
      async () => {
        if (nginx.child.exitCode !== null) throw new Error(`nginx-rtmp exited: ${nginx.output()} ${await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '')}`);
        return listening(port);
      },
      { what: 'nginx-rtmp to listen', timeoutMs: 15_000 },
    );
  };
  await start();
  return { port, dir, publishNames, events, recording: (name) => path.join(dir, 'rec', `${name}.flv`), stop: () => nginx.stop(), restart: start };
}

export interface TestCa {
  caPem: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * A throwaway CA and a server certificate it signs for localhost / 127.0.0.1 (or for the
 * subjectAltName given, e.g. "DNS:other.example": a certificate for another host).
 */
export async function makeTestCa(name: string, o: { subjectAltName?: string } = {}): Promise<TestCa> {
  const dir = testDir(`ca-${name}`);
  const f = (n: string) => path.join(dir, n);
  const ssl = async (args: string[]) => {
    const r = await run('openssl', args);
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.slice(-400)}`);
  };
  await ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=Onair test CA ${name}`, '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  await ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', f('server.key'), '-out', f('server.csr')]);
  await writeFile(f('ext.cnf'), `subjectAltName=${o.subjectAltName ?? 'DNS:localhost,IP:127.0.0.1'}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
  await ssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', f('ext.cnf'), '-out', f('server.pem')]);
  return { caPem: await readFile(f('ca.pem'), 'utf8'), caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server.key') };
}

/** stunnel4 terminating TLS on a free port and passing the plain bytes to targetPort. */
export async function startTlsFront(t: Teardown, o: { targetPort: number; ca: TestCa }): Promise<number> {
  if (!existsSync(STUNNEL)) throw new Error(`${STUNNEL} is missing: npm test installs stunnel4 (or apt-get install stunnel4).`);
  const dir = testDir('stunnel');
  const port = await freePort();
  const conf = path.join(dir, 'stunnel.conf');
  await writeFile(conf, `foreground = yes\npid =\ndebug = 4\n\n[rtmps]\naccept = 127.0.0.1:${port}\nconnect = 127.0.0.1:${o.targetPort}\ncert = ${o.ca.certFile}\nkey = ${o.ca.keyFile}\n`);
  const st = spawnKept(t, STUNNEL, [conf]);
  await waitFor(
    async () => {
      if (st.child.exitCode !== null) throw new Error(`stunnel exited: ${st.output().slice(-800)}`);
      return listening(port);
    },
    { what: 'stunnel to listen', timeoutMs: 15_000 },
  );
  return port;
}

export interface ThrottleProxy {
  port: number;
  /** Bytes passed towards the destination. */
  forwarded(): number;
}

/** A TCP proxy that passes the client's bytes on at most bytesPerSecond (the answers go back freely). */
export async function startThrottleProxy(t: Teardown, o: { targetPort: number; bytesPerSecond: number }): Promise<ThrottleProxy> {
  let forwarded = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(o.targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => (sockets.delete(s), inbound.destroy(), outbound.destroy()));
    }
    outbound.pipe(inbound);
    const pending: Buffer[] = [];
    let pendingBytes = 0;
    inbound.on('data', (d: Buffer) => {
      pending.push(d);
      pendingBytes += d.length;
      if (pendingBytes > 64 * 1024) inbound.pause(); // the client's socket fills: it is a slow destination
    });
    const perTick = Math.max(1, Math.floor(o.bytesPerSecond / 10));
    const timer = setInterval(() => {
      let budget = perTick;
      while (budget > 0 && pending.length > 0) {
        const d = pending[0]!;
        const part = d.subarray(0, budget);
        if (part.length === d.length) pending.shift();
        else pending[0] = d.subarray(part.length);
        budget -= part.length;
        pendingBytes -= part.length;
        forwarded += part.length;
        outbound.write(part);
      }
      if (pendingBytes <= 64 * 1024) inbound.resume();
    }, 100);
    inbound.once('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, forwarded: () => forwarded };
}

/**
 * ffmpeg encoding a test pattern in real time (-re) and writing it as FLV to its stdout. noise:
 * film grain on every frame, so the encoder really spends videoKbps (a bare test pattern
 * compresses to far less than asked).
 */
export function flvTestSource(t: Teardown, o: { seconds: number; width: number; height: number; fps?: number; videoKbps?: number; noise?: boolean }): ChildProcess {
  const fps = o.fps ?? 25;
  const kbps = o.videoKbps ?? 800;
  const gop = String(fps * 2);
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i', `testsrc=size=${o.width}x${o.height}:rate=${fps}`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];
  if (o.noise) args.push('-vf', 'noise=alls=30:allf=t');
  args.push('-t', String(o.seconds), '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', gop, '-keyint_min', gop, '-sc_threshold', '0');
  args.push('-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`, '-c:a', 'aac', '-b:a', '96k', '-f', 'flv', 'pipe:1');
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.resume();
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

/** Duration (s) and video size of a media file, per ffprobe; decodedOk: ffmpeg decodes it all without an error. */
export async function probeRecording(file: string): Promise<{ width: number; height: number; seconds: number; decodedOk: boolean }> {
  const probe = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height:format=duration', '-of', 'json', file]);
  const j = JSON.parse(probe.stdout || '{}');
  const s = (j.streams ?? [])[0] ?? {};
  const decode = await run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
  return { width: s.width, height: s.height, seconds: Number(j.format?.duration ?? 0), decodedOk: decode.code === 0 && decode.stderr.trim() === '' };
}
