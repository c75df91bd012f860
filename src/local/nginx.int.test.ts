// The shipped nginx configuration, live, in front of a test API node (and a dead one, so nginx
// writes upstream errors): symbolic links in the media dir are not served, anything outside
// /hls/, /api/, /ws and / is 404 without touching the disk, sign-in bursts beyond the venue-sized
// limit get 429 (never /ws), and no access or error log line carries a JWT, a WebSocket ticket or
// a playback token.
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { signPlaybackToken } from '../analytics/playback.js';
import { startTestApi } from '../testing/api.js';
import { startTestNginx, testDir, waitFor } from '../testing/harness.js';
import { connectWs } from '../testing/ws.js';
import { rotateNginxLogs } from './log-files.js';
import { freePort } from './processes.js';

const api = await startTestApi(t);
const apiPort = Number(new URL(api.base).port);
const deadPort = await freePort(); // nothing listens: nginx tries it, logs the failure, moves on
const dataDir = testDir('nginx');
const mediaDir = path.join(dataDir, 'media');
const httpPort = await startTestNginx(t, { dataDir, mediaDir, apiPort: [apiPort, deadPort], playbackSecret: api.config.playbackSecret });
const base = `http://127.0.0.1:${httpPort}`;
const logDir = path.join(dataDir, 'logs');
const logs = () => ['nginx-access.log', 'nginx-error.log'].map((f) => readFileSync(path.join(logDir, f), 'utf8')).join('\n');

// a stream's files, a secret outside the media dir, and links to it inside
const pid = 'abcdefghijkl';
const hls = path.join(mediaDir, 'hls', pid);
mkdirSync(path.join(hls, '360p'), { recursive: true, mode: 0o755 });
writeFileSync(path.join(hls, 'master.m3u8'), '#EXTM3U\n', { mode: 0o644 });
writeFileSync(path.join(hls, '360p', 'seg1.ts'), 'segment', { mode: 0o644 });
const outside = path.join(dataDir, 'outside');
mkdirSync(outside, { mode: 0o755 });
writeFileSync(path.join(outside, 'secret.ts'), 'not media', { mode: 0o644 });
symlinkSync(path.join(outside, 'secret.ts'), path.join(hls, 'link.ts'));
symlinkSync(outside, path.join(hls, 'linkdir'));

t.test('symbolic links in the media dir are not served', async (t) => {
  t.equal((await fetch(`${base}/hls/${pid}/360p/seg1.ts`)).status, 200, 'a real segment is');
  for (const p of ['link.ts', 'linkdir/secret.ts']) {
    const r = await fetch(`${base}/hls/${pid}/${p}`);
    t.not(r.status, 200, `${p}: ${r.status}`);
    t.notMatch(await r.text(), /not media/);
  }
  const token = signPlaybackToken(api.config.playbackSecret, { playbackId: pid, sessionId: '00000000-0000-0000-0000-000000000000', userId: '00000000-0000-0000-0000-000000000000' });
  t.equal((await fetch(`${base}/hls/${pid}/v/${token}/360p/seg1.ts`)).status, 200, 'a viewer URL serves the real segment');
  t.not((await fetch(`${base}/hls/${pid}/v/${token}/link.ts`)).status, 200, 'but not a link');
});

t.test('anything outside /hls/, /api/, /ws and / is 404, without touching the disk', async (t) => {
  // nginx's default document root (<prefix>/html) would otherwise serve this
  const html = path.join(dataDir, 'nginx', 'html');
  mkdirSync(html, { recursive: true, mode: 0o755 });
  writeFileSync(path.join(html, 'index.html'), 'default root', { mode: 0o644 });
  writeFileSync(path.join(html, 'secret.txt'), 'default root', { mode: 0o644 });
  for (const p of ['/secret.txt', '/index.html', '/nginx.conf', '/media/hls/', '/../etc/passwd', '/wsx', '/apix']) {
    const r = await fetch(base + p);
    t.equal(r.status, 404, `${p} → 404`);
    t.notMatch(await r.text(), /default root/);
  }
  t.equal((await fetch(`${base}/`)).status, 200, '/ still answers');
  t.equal((await fetch(`${base}/api/health`)).status, 200, '/api/ still proxies');
});

t.test('a sign-in burst beyond the limit gets 429 from nginx; /ws and other /api/auth/ paths are not limited', async (t) => {
  const burst = await Promise.all(
    Array.from({ length: 150 }, () => fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), body: await r.text() }))),
  );
  const limited = burst.filter((r) => r.status === 429);
  const passed = burst.filter((r) => r.status === 400);
  t.ok(limited.length >= 40, `${limited.length} of 150 refused with 429`);
  t.ok(passed.length >= 50, `${passed.length} reached the API (the burst of 50)`);
  t.equal(passed.length + limited.length, 150, 'nothing else');
  const p = JSON.parse(limited[0]!.body);
  t.match(p, { status: 429, code: 'rate_limited', retryAfterSeconds: 1 }, 'the house problem body');
  t.equal(limited[0]!.retry, '1', 'and Retry-After');
  await new Promise((r) => setTimeout(r, 300));
  const people = await api.bulkUsers(80);
  const ws = await Promise.allSettled(people.map((p) => connectWs(`ws://127.0.0.1:${httpPort}/ws`, { token: p.token })));
  t.equal(ws.filter((r) => r.status === 'fulfilled').length, 80, '80 sockets opened at once through nginx: /ws is not limited');
  for (const r of ws) if (r.status === 'fulfilled') r.value.close();
  const u = await api.user('attendee');
  const me = await Promise.all(Array.from({ length: 80 }, () => fetch(`${base}/api/auth/me`, { headers: { authorization: `Bearer ${u.token}` } }).then((r) => r.status)));
  t.same([...new Set(me)], [200], '/api/auth/me is not limited by nginx');
  t.equal((await fetch(`${base}/api/auth/login?token=${u.token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 400, 'a query string on a sign-in endpoint is refused before the limit');
  await waitFor(() => /limiting requests/.test(readFileSync(path.join(logDir, 'nginx-error.log'), 'utf8')), { what: 'the refusals in the error log' });
});

t.test('no nginx log line carries a JWT, a ticket or a playback token', async (t) => {
  const u = await api.user('attendee');
  const login = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: u.email, password: u.password }) });
  const jwt = ((await login.json()) as { token: string }).token;
  const secrets = [u.token, jwt];
  // tickets through nginx, over both upstreams (the dead one makes nginx write upstream errors)
  for (let i = 0; i < 4; i++) {
    const r = await fetch(`${base}/api/realtime/ticket`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } });
    const { ticket } = (await r.json()) as { ticket: string };
    secrets.push(ticket);
    const ws = await connectWs(`ws://127.0.0.1:${httpPort}/ws`, { ticket });
    ws.close();
    await t.rejects(connectWs(`ws://127.0.0.1:${httpPort}/ws`, { ticket }), { message: /upgrade refused: 401/ }, 'used up');
  }
  // tokens people might paste into a URL anyway
  for (const p of [`/api/auth/me?token=${jwt}`, `/api/nope?ticket=${secrets[2]}`, `/api/events?x=1&access_token=${jwt}`]) t.equal((await fetch(base + p)).status, 400, 'a secret in an /api/ query is refused');
  await t.rejects(connectWs(`ws://127.0.0.1:${httpPort}/ws?token=${jwt}`), { message: /upgrade refused: 401/ }, 'and /ws?token= is not accepted');
  // playback tokens: served, refused (forged, missing file, a path the viewer location does not take)
  const token = signPlaybackToken(api.config.playbackSecret, { playbackId: pid, sessionId: '00000000-0000-0000-0000-000000000000', userId: '00000000-0000-0000-0000-000000000000' });
  const forged = token.slice(0, -4) + 'AAAA';
  secrets.push(token, forged);
  for (const p of [`${token}/master.m3u8`, `${token}/360p/seg1.ts`, `${token}/360p/missing.ts`, `${token}/weird name.ts`, `${token}/a/b/c/d.ts`, `${forged}/master.m3u8`]) {
    await fetch(`${base}/hls/${pid}/v/${p}`, { headers: { authorization: `Bearer ${jwt}` } });
  }
  await new Promise((r) => setTimeout(r, 1_500)); // buffered log lines
  const text = logs();
  t.match(text, /upstream/, 'the dead upstream made nginx write errors');
  t.match(text, /"GET \/hls\/abcdefghijkl\/v\/-\//, 'refused viewer requests are logged, without the token');
  for (const s of secrets) t.notOk(text.includes(s), `${s.slice(0, 12)}… is in no nginx log line`);
});

t.test("nginx's access log rotates by size (rename + USR1) and no line is lost", async (t) => {
  const file = path.join(logDir, 'nginx-access.log');
  const rotation = rotateNginxLogs({ files: [file], pidFile: path.join(dataDir, 'nginx', 'nginx.pid'), rotation: { maxBytes: 16_000, files: 50 }, everyMs: 20 });
  t.teardown(() => rotation.stop());
  const n = 800;
  for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => fetch(`${base}/rotation-marker-${i + k}`).then((r) => r.arrayBuffer())));
  await new Promise((r) => setTimeout(r, 500));
  rotation.stop();
  const files = readdirSync(logDir).filter((f) => f.startsWith('nginx-access.log'));
  t.ok(files.length >= 4, `rotated into ${files.length} files`);
  const seen = new Set<string>();
  const sizes: number[] = [];
  for (const f of files) {
    for (const m of readFileSync(path.join(logDir, f), 'utf8').matchAll(/rotation-marker-(\d+)/g)) seen.add(m[1]!);
    // the oldest holds what the earlier tests logged. A renamed file takes lines until nginx has
    // reopened (USR1): on a busy machine that can be a batch or two, and that file then moves on
    // down the list with later rotations, so the bound is on the size nginx writes per file, not
    // on one named file.
    if (f !== `nginx-access.log.${files.length - 1}`) sizes.push(statSync(path.join(logDir, f)).size);
  }
  sizes.sort((a, b) => a - b);
  t.ok(sizes[sizes.length - 1]! < 2 * 16_000, `no file runs far past the limit (largest ${sizes[sizes.length - 1]} bytes)`);
  // the rotation looks every 20 ms while 20 requests at a time land: a file may pass the limit by a batch or so
  t.ok(sizes[Math.floor(sizes.length / 2)]! < 16_000 + 8_000, `files stay near the limit (median ${sizes[Math.floor(sizes.length / 2)]} bytes)`);
  t.equal(seen.size, n, `all ${n} requests are logged across the rotations`);
  t.equal(statSync(file).mode & 0o777, 0o600, 'the new file is 0600, not nginx’s 0644');
});
