// The one-command start as a user runs it: embedded Postgres and Redis, migrations, nginx and
// every role; the banner; a publish played through nginx; a crashed role, a killed Postgres and
// a killed Redis restarted while it plays; Ctrl-C stopping every child.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { freePort } from '../local/processes.js';
import { APP_ROOT } from '../paths.js';
import { getText, publishTestPattern, testDir, waitFor } from '../testing/harness.js';
import { testImage } from '../testing/images.js';
import { connectWs } from '../testing/ws.js';

const dataDir = testDir('all');
const ports = { HTTP_PORT: String(await freePort()), RTMP_PORT: String(await freePort()), PORT: String(await freePort()), ORIGIN_PORT: String(await freePort()) };

function start() {
  const child = spawn(process.execPath, [path.join(APP_ROOT, 'dist', 'bin', 'all.js')], {
    // small log files, all kept: rotation happens during the test and every line can be searched
    env: { PATH: process.env.PATH, DATA_DIR: dataDir, LOG_MAX_BYTES: '4096', LOG_FILES: '100', ...ports },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  child.stderr!.on('data', (c: Buffer) => (out += c));
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => out, exited };
}

function descendants(pid: number): number[] {
  let kids: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      kids.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    return [];
  }
  for (const k of [...kids]) kids = kids.concat(descendants(k));
  return kids;
}

const alive = (pid: number) => {
  try {
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

/** Local addresses (hex, as /proc/net shows them) of the sockets listening on / bound to a port. */
function boundAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const out: string[] = [];
  for (const f of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const lines = readFileSync(`/proc/net/${f}`, 'utf8').trim().split('\n').slice(1);
    for (const l of lines) {
      const [, local, , state] = l.trim().split(/\s+/);
      // TCP: LISTEN (0A) only; UDP: every bound socket (07)
      if (local?.endsWith(`:${hexPort}`) && (f.startsWith('udp') || state === '0A')) out.push(`${f} ${local.split(':')[0]}`);
    }
  }
  return out;
}

async function apiOnLoopbackOnly(t: Test) {
  const port = Number(ports.PORT);
  const bound = boundAddresses(port);
  t.same(bound.sort(), ['tcp 0100007F', 'udp 0100007F'], `the API (TCP) and the viewer-line collector (UDP) on port ${port} are bound to 127.0.0.1 only`);
  const outside = Object.values(networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;
  if (!outside) return void t.pass('the API port on a non-loopback address', { skip: 'this machine has no non-loopback IPv4 address' });
  const reached = await new Promise<string>((resolve) => {
    const s = net.connect({ host: outside, port }, () => (s.destroy(), resolve('connected')));
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    s.setTimeout(3_000, () => (s.destroy(), resolve('timeout')));
  });
  t.not(reached, 'connected', `the API port is not reachable on ${outside} (${reached})`);
  t.equal((await fetch(`http://127.0.0.1:${port}/api/health`)).status, 200, 'but is on loopback');
  // the LL-HLS playlist origin, supervised like the other roles, where nginx finds it (loopback)
  const originPort = Number(ports.ORIGIN_PORT);
  await waitFor(() => fetch(`http://127.0.0.1:${originPort}/healthz`).then((r) => r.ok, () => false), { what: 'the origin to be healthy' });
  t.same(boundAddresses(originPort), ['tcp 0100007F'], `the origin on port ${originPort} is bound to 127.0.0.1 only`);
}

/** JWTs, WebSocket tickets and playback tokens this test used: none may reach a log file. */
const secrets: string[] = [];

async function useSecretsThroughNginx(t: Test, jwt: string) {
  const base = `http://127.0.0.1:${ports.HTTP_PORT}`;
  secrets.push(jwt);
  t.equal((await fetch(`${base}/api/auth/me`, { headers: { authorization: `Bearer ${jwt}` } })).status, 200);
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${base}/api/realtime/ticket`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } });
    const { ticket } = (await r.json()) as { ticket: string };
    secrets.push(ticket);
    const ws = await connectWs(`ws://127.0.0.1:${ports.HTTP_PORT}/ws`, { ticket });
    t.equal((await ws.request({ type: 'event:leave', eventId: '00000000-0000-0000-0000-000000000000' })).type, 'ack', 'a socket opened with a ticket through nginx');
    ws.close();
    await t.rejects(connectWs(`ws://127.0.0.1:${ports.HTTP_PORT}/ws`, { ticket }), { message: /upgrade refused: 401/ }, 'once');
  }
}

const base = `http://127.0.0.1:${ports.HTTP_PORT}`;
const signIn = (password: string) =>
  fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'admin@onair.local', password }) });
const healthy = () => fetch(`${base}/api/health`).then((r) => r.status === 200, () => false);
const storedSecrets = () => JSON.parse(readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as { internalApiKey: string; redisPassword: string };
/** postmaster.pid: the postmaster's pid on line 1, its port on line 4. */
const postmaster = () => {
  const lines = readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n');
  return { pid: Number(lines[0]), port: Number(lines[3]) };
};
const commandOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
};

type App = ReturnType<typeof start>;

/** The embedded Postgres dies (SIGKILL to the postmaster): the supervisor brings it back on its port and data dir. */
async function postgresDrill(t: Test, app: App, password: string) {
  const before = postmaster();
  const from = app.output().length;
  process.kill(before.pid, 'SIGKILL');
  await waitFor(() => /\[postgres\] exited \(SIGKILL\); restarting in/.test(app.output().slice(from)), { what: 'the supervisor to notice the postmaster died', timeoutMs: 15_000 });
  await waitFor(() => /\[postgres\] is back: accepting connections/.test(app.output().slice(from)), { what: 'postgres to accept connections again', timeoutMs: 90_000, intervalMs: 250 });
  const after = postmaster();
  t.not(after.pid, before.pid, 'a new postmaster');
  t.equal(after.port, before.port, 'on the same port and data dir');
  await waitFor(healthy, { what: 'GET /api/health through nginx', timeoutMs: 30_000, intervalMs: 250 });
  await waitFor(async () => (await signIn(password)).status === 200, { what: 'a login (the database)', timeoutMs: 30_000, intervalMs: 250 });
  t.pass('after the embedded Postgres was killed: restarted, healthy, a login works');
}

/** The embedded Redis dies (SIGKILL): restarted on its port, with its data (appendonly). */
async function redisDrill(t: Test, app: App, password: string) {
  const pid = descendants(app.child.pid!).find((p) => commandOf(p).startsWith('redis-server'));
  t.ok(pid, 'redis-server runs under the start command');
  const port = Number(/^port (\d+)$/m.exec(readFileSync(path.join(dataDir, 'redis', 'redis.conf'), 'utf8'))![1]);
  const client = () => new Redis({ host: '127.0.0.1', port, password: storedSecrets().redisPassword, maxRetriesPerRequest: 1, lazyConnect: true });
  const r1 = client();
  r1.on('error', () => undefined);
  await r1.connect();
  await r1.set('onair-test:kept', 'yes');
  r1.disconnect();
  await new Promise((r) => setTimeout(r, 1_500)); // appendfsync everysec
  const from = app.output().length;
  process.kill(pid!, 'SIGKILL');
  await waitFor(() => /\[redis\] exited \(SIGKILL\); restarting in/.test(app.output().slice(from)), { what: 'the supervisor to notice redis died', timeoutMs: 15_000 });
  await waitFor(() => /\[redis\] is back: accepting connections/.test(app.output().slice(from)), { what: 'redis to accept connections again', timeoutMs: 60_000, intervalMs: 250 });
  const r2 = client();
  r2.on('error', () => undefined);
  await r2.connect();
  t.equal(await r2.get('onair-test:kept'), 'yes', 'on the same port, with its data');
  r2.disconnect();
  await waitFor(healthy, { what: 'GET /api/health through nginx', timeoutMs: 30_000, intervalMs: 250 });
  const jwt = await waitFor(async () => {
    const r = await signIn(password);
    return r.status === 200 ? ((await r.json()) as { token: string }).token : null;
  }, { what: 'a login (throttled in Redis)', timeoutMs: 30_000, intervalMs: 250 });
  secrets.push(jwt);
  const ticket = await waitFor(async () => {
    const r = await fetch(`${base}/api/realtime/ticket`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } });
    return r.status === 200 ? ((await r.json()) as { ticket: string }).ticket : null;
  }, { what: 'a WebSocket ticket (kept in Redis)', timeoutMs: 30_000, intervalMs: 250 });
  secrets.push(ticket);
  const ws = await connectWs(`ws://127.0.0.1:${ports.HTTP_PORT}/ws`, { ticket });
  t.equal((await ws.request({ type: 'event:leave', eventId: '00000000-0000-0000-0000-000000000000' })).type, 'ack', 'a socket opened with it');
  ws.close();
  t.pass('after the embedded Redis was killed: restarted, healthy, a login and a WebSocket ticket work');
}

/** The live publish goes on: its playlist keeps growing and was not finished. */
async function publishGoesOn(t: Test, playlist: string) {
  const last = () => readFileSync(playlist, 'utf8').trim().split('\n').filter((l) => !l.startsWith('#')).pop();
  const seen = last();
  await waitFor(() => last() !== seen, { what: 'a new segment', timeoutMs: 30_000, intervalMs: 250 });
  t.notMatch(readFileSync(playlist, 'utf8'), /#EXT-X-ENDLIST/, 'the live stream went on through both outages');
}

let key = '';
/** Relay destinations work out of the box: RELAY_KEYS is the relay key generated into secrets.json. */
async function relayDestinationsWork(t: Test, token: string) {
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${ports.HTTP_PORT}/api${p}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
  const streams = (await (await api('/streams')).json()) as { items: { id: string }[] };
  const streamKey = `relay-${randomBytes(12).toString('hex')}`;
  secrets.push(streamKey); // and so it must be in no log (the last test)
  const r = await api(`/streams/${streams.items[0]!.id}/destinations`, { method: 'POST', body: JSON.stringify({ name: 'YouTube', url: 'rtmp://198.51.100.9/live2', streamKey }) });
  t.equal(r.status, 201, 'a relay destination can be added on the one-box start');
  t.equal(Buffer.from((storedSecrets() as { relayKey?: string }).relayKey ?? '', 'base64').length, 32, 'with the 32-byte relay key kept in secrets.json');
}

/** An uploaded image is stored where nginx serves it from: the api and nginx of the one-box start agree on UPLOADS_DIR. */
async function uploadsWork(t: Test, token: string) {
  const png = await testImage('png', { width: 32, height: 16 });
  const r = await fetch(`http://127.0.0.1:${ports.HTTP_PORT}/api/uploads/images`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' }, body: new Uint8Array(png) });
  t.equal(r.status, 201, 'an image upload is taken');
  const { url } = (await r.json()) as { url: string };
  t.ok(statSync(path.join(dataDir, 'uploads', url.slice('/uploads/'.length))).isFile(), 'stored in DATA_DIR/uploads (the default UPLOADS_DIR)');
  const served = await fetch(`http://127.0.0.1:${ports.HTTP_PORT}${url}`);
  t.equal(served.status, 200, 'and served by nginx');
  t.same(Buffer.from(await served.arrayBuffer()), png);
}

t.test('first start: everything comes up and the banner tells how to use it', async (t) => {
  const app = start();
  await waitFor(() => app.output().includes('Onair is running'), { what: 'the banner', timeoutMs: 90_000, intervalMs: 250 });
  const out = app.output();
  const password = /Admin login\s+admin@onair\.local\s+\/\s+(\S+)/.exec(out)?.[1];
  key = /Stream key\s+(live_[A-Za-z0-9_-]+)/.exec(out)?.[1] ?? '';
  const playback = /Playback URL\s+(\S+)/.exec(out)?.[1] ?? '';
  t.ok(password, 'admin password shown on first start');
  t.ok(key, 'demo stream key shown on first start');
  t.match(out, new RegExp(`RTMP server\\s+rtmp://localhost:${ports.RTMP_PORT}/live`));
  t.match(out, /OBS settings/);
  t.match(playback, new RegExp(`^http://localhost:${ports.HTTP_PORT}/hls/[a-z0-9]+/v/[A-Za-z0-9_.-]+/master\\.m3u8$`), 'a preview URL with its token');

  const login = await fetch(`http://127.0.0.1:${ports.HTTP_PORT}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'admin@onair.local', password }),
  });
  t.equal(login.status, 200, 'the printed admin login works');
  await apiOnLoopbackOnly(t);
  const adminToken = ((await login.json()) as { token: string }).token;
  await useSecretsThroughNginx(t, adminToken);
  await relayDestinationsWork(t, adminToken);
  await uploadsWork(t, adminToken);

  publishTestPattern(t, { url: `rtmp://127.0.0.1:${ports.RTMP_PORT}/live/${key}`, width: 640, height: 360, fps: 10, seconds: 240, videoKbps: 600 });
  secrets.push(/\/v\/([^/]+)\//.exec(playback)![1]!);
  const local = playback.replace('localhost', '127.0.0.1');
  await waitFor(async () => (await getText(local)).status === 200, { what: 'the demo stream through nginx', timeoutMs: 30_000 });
  t.pass('the demo stream plays');

  // every role's /metrics, with the generated internal key; the ports are in the banner
  const m = /Metrics\s+api (http:\/\/127\.0\.0\.1:\d+\/metrics), ingest :(\d+), worker :(\d+)/.exec(out);
  t.ok(m, 'the banner names the metrics endpoints');
  const internalKey = storedSecrets().internalApiKey;
  for (const url of [m?.[1], `http://127.0.0.1:${m?.[2]}/metrics`, `http://127.0.0.1:${m?.[3]}/metrics`]) {
    const r = await fetch(url!, { headers: { authorization: `Bearer ${internalKey}` } }).catch(() => null);
    t.equal(r?.status, 200, `${url} answers with the internal key`);
    t.match(await r?.text(), /onair_process_cpu_seconds_total/);
  }

  // a crashed role is restarted by the supervisor
  const api = descendants(app.child.pid!).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/bin/api.js');
    } catch {
      return false;
    }
  });
  t.ok(api, 'the api role runs as a child');
  process.kill(api!, 'SIGKILL');
  await waitFor(() => /\[api\] exited \(SIGKILL\); restarting/.test(app.output()), { what: 'the supervisor to notice', timeoutMs: 5_000 });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.HTTP_PORT}/api/health`)).status === 200, { what: 'the api to come back', timeoutMs: 15_000 });
  t.pass('the crashed api role was restarted');

  // an embedded Postgres or Redis that dies is restarted, while the demo stream is live
  await postgresDrill(t, app, password!);
  await redisDrill(t, app, password!);
  await publishGoesOn(t, path.join(dataDir, 'media', 'hls', /hls\/([a-z0-9]+)\//.exec(playback)![1]!, '360p', 'index.m3u8'));

  // Ctrl-C while live: every child (postgres, redis, nginx, roles, ffmpeg) stops
  const tree = descendants(app.child.pid!);
  t.ok(tree.length >= 7, `${tree.length} processes under the start command`);
  app.child.kill('SIGINT');
  const code = await Promise.race([app.exited, new Promise((r) => setTimeout(() => r('timeout'), 45_000))]);
  t.equal(code, 0, 'the start command exits cleanly');
  await waitFor(() => tree.every((pid) => !alive(pid)), { what: 'every child to stop', timeoutMs: 5_000 });
  t.pass('no process is left behind');
  const variant = readFileSync(path.join(dataDir, 'media', 'hls', /hls\/([a-z0-9]+)\//.exec(playback)![1]!, '360p', 'index.m3u8'), 'utf8');
  t.match(variant, /#EXT-X-ENDLIST/, 'the playlist was finished on the way down');
});

t.test('later starts do not show secrets again and say how to get a new key', async (t) => {
  const app = start();
  await waitFor(() => app.output().includes('Onair is running'), { what: 'the banner', timeoutMs: 60_000, intervalMs: 250 });
  const out = app.output();
  t.match(out, /Stream key\s+shown only on first start\. New key: curl -X POST .*\/regenerate-key/);
  t.match(out, /Admin login\s+admin@onair\.local\s+\/\s+\(see .*secrets\.json\)/);
  // Ctrl-C, and the embedded Postgres dies while the roles are being stopped: it stays down
  const { pid } = postmaster();
  app.child.kill('SIGINT');
  await waitFor(() => app.output().includes('[onair] Stopping'), { what: 'the shutdown to begin', timeoutMs: 5_000, intervalMs: 5 });
  process.kill(pid, 'SIGKILL');
  t.equal(await app.exited, 0);
  const shutdown = app.output().slice(app.output().indexOf('[onair] Stopping'));
  t.match(shutdown, /\[postgres\] exited \(SIGKILL\) while stopping; not restarted\./, 'the supervisor saw it die');
  t.notMatch(shutdown, /restarting in/, 'and restarted nothing during the shutdown');
});

t.test('no log file holds the stream key, a JWT, a ticket or a playback token; logs are private and rotated', async (t) => {
  const logDir = path.join(dataDir, 'logs');
  const files = readdirSync(logDir);
  for (const want of ['api.log', 'worker.log', 'ingest.log', 'migrate.log', 'postgres.log', 'redis.log', 'nginx.log', 'nginx-access.log', 'nginx-error.log']) t.ok(files.includes(want), `${want} is there`);
  t.ok(files.some((f) => /^[a-z-]+\.log\.\d+$/.test(f)), `rotated files: ${files.filter((f) => /\.\d+$/.test(f)).join(' ')}`);
  t.ok(secrets.length >= 5 && key, 'the test used a key, JWTs, tickets and a playback token');
  const all = files.map((f) => readFileSync(path.join(logDir, f), 'utf8')).join('\n');
  t.match(all, /GET \/api\/auth\/me/, "nginx's access log saw the requests");
  for (const f of files) {
    const text = readFileSync(path.join(logDir, f), 'utf8');
    t.notOk(text.includes(key), `${f} holds no stream key`);
    for (const s of secrets) if (text.includes(s)) t.fail(`${f} holds ${s.slice(0, 12)}…`);
    t.equal(statSync(path.join(logDir, f)).mode & 0o077, 0, `${f}: no access for group or others`);
  }
  t.equal(statSync(logDir).mode & 0o007, 0, 'the log folder: no access for other users');
  if (process.getuid?.() === 0) t.equal(statSync(logDir).mode & 0o777, 0o750, "as root: root:www-data 0750 (nginx's workers reopen their files)");
  else t.equal(statSync(logDir).mode & 0o777, 0o700);
});
