// Branding images end to end: POST /api/uploads/images through nginx to a real API node (answers
// checked against their declared schemas), stored in UPLOADS_DIR, served back by nginx under
// /uploads/ with the headers that keep them inert; events' branding takes the URLs it answers.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { NO_RATE_LIMITS, startTestApi, type TestApi } from '../testing/api.js';
import { isRoot } from '../local/processes.js';
import { startTestNginx, testDir } from '../testing/harness.js';
import { pngClaiming, testImage } from '../testing/images.js';

const api = await startTestApi(t, { env: NO_RATE_LIMITS });
const apiPort = Number(new URL(api.base).port);
const nginxDir = testDir('uploads-nginx');
const httpPort = await startTestNginx(t, { dataDir: nginxDir, mediaDir: path.join(nginxDir, 'media'), apiPort, uploadsDir: api.config.uploadsDir });
const base = `http://127.0.0.1:${httpPort}`;
const admin = await api.user('admin');

/** POSTs raw bytes through nginx, as a browser's fetch(file) does. */
async function upload(bytes: Buffer, type: string | null, o: { token?: string | null; at?: string } = {}) {
  const token = o.token === undefined ? admin.token : o.token ?? undefined;
  const res = await fetch(`${o.at ?? base}/api/uploads/images`, {
    method: 'POST',
    headers: { ...(type ? { 'content-type': type } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: new Uint8Array(bytes),
  });
  const text = await res.text();
  return { status: res.status, body: /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text, headers: res.headers };
}
/** Every answer the API sent so far matched its declared schema (call() throws the mismatches). */
const answersChecked = (a: TestApi) => a.call('GET', '/health');
/** What lies in the uploads dir: only final names, never a temp file left behind. */
const filesIn = (dir: string) => readdirSync(dir).sort();

t.test('PNG, JPEG, WebP and GIF are stored under their SHA-256 and served by nginx, inert and cached for good', async (t) => {
  const png = await testImage('png', { width: 160, height: 90 });
  const r = await upload(png, 'image/png');
  t.equal(r.status, 201, JSON.stringify(r.body));
  t.match(r.body, { url: /^\/uploads\/[0-9a-f]{64}\.png$/, width: 160, height: 90, bytes: png.length, contentType: 'image/png' });
  const served = await fetch(base + r.body.url);
  t.equal(served.status, 200);
  t.same(Buffer.from(await served.arrayBuffer()), png, 'the same bytes');
  t.equal(served.headers.get('content-type'), 'image/png');
  t.equal(served.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  t.equal(served.headers.get('x-content-type-options'), 'nosniff');
  t.equal(served.headers.get('content-security-policy'), "default-src 'none'; sandbox");
  t.ok(filesIn(api.config.uploadsDir).includes(r.body.url.slice('/uploads/'.length)), 'the file is in UPLOADS_DIR');

  for (const [kind, type, ext] of [['jpeg', 'image/jpeg', 'jpg'], ['webp', 'image/webp', 'webp'], ['gif', 'image/gif', 'gif']] as const) {
    const bytes = await testImage(kind, { width: 300, height: 100 });
    const u = await upload(bytes, type);
    t.equal(u.status, 201, `${kind}: ${JSON.stringify(u.body)}`);
    t.match(u.body, { url: new RegExp(`^/uploads/[0-9a-f]{64}\\.${ext}$`), width: 300, height: 100, contentType: type });
    const s = await fetch(base + u.body.url);
    t.equal(s.headers.get('content-type'), type, `${kind} served as ${type}`);
    t.same(Buffer.from(await s.arrayBuffer()), bytes);
  }
  t.same(filesIn(api.config.uploadsDir).filter((f) => !/^[0-9a-f]{64}\.(png|jpg|webp|gif)$/.test(f)), [], 'no temp files left');
  await answersChecked(api);
});

t.test('the same bytes twice: the same URL (200, nothing written again); other bytes: another URL', async (t) => {
  const bytes = await testImage('jpeg', { width: 64, height: 64, seed: 3 });
  const first = await upload(bytes, 'image/jpeg');
  const again = await upload(bytes, 'image/jpeg');
  t.equal(first.status, 201);
  t.equal(again.status, 200);
  t.equal(again.body.url, first.body.url);
  const other = await upload(await testImage('jpeg', { width: 64, height: 64, seed: 9 }), 'image/jpeg');
  t.not(other.body.url, first.body.url);
  await answersChecked(api);
});

t.test('refused with words: SVG, a renamed text file, a type that does not match, too large, cut short, absurd sizes, empty', async (t) => {
  const png = await testImage('png', { width: 40, height: 40, seed: 5 });
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>');
  const before = filesIn(api.config.uploadsDir);
  const cases: [string, Buffer, string | null, number, string, RegExp][] = [
    ['SVG as SVG', svg, 'image/svg+xml', 415, 'unsupported_media_type', /Send a PNG, JPEG, WebP or GIF image \(SVG is not taken: it can carry script\), with its Content-Type \(image\/png, image\/jpeg, image\/webp, image\/gif\)/],
    ['SVG sent as PNG', svg, 'image/png', 415, 'unsupported_media_type', /not a PNG, JPEG, WebP or GIF image \(SVG is not taken: it can carry script\)/],
    ['a text file renamed logo.png', Buffer.from('just some notes, saved as logo.png\n'), 'image/png', 415, 'unsupported_media_type', /not a PNG, JPEG, WebP or GIF image/],
    ['text/plain', Buffer.from('hello'), 'text/plain', 415, 'unsupported_media_type', /Send a PNG, JPEG, WebP or GIF image/],
    ['a PNG sent as JPEG', png, 'image/jpeg', 415, 'type_mismatch', /is a PNG image but was sent as image\/jpeg; send it with Content-Type: image\/png/],
    ['cut short', png.subarray(0, png.length - 20), 'image/png', 400, 'bad_image', /cut short/],
    ['9000 px wide', pngClaiming(9000, 10), 'image/png', 400, 'bad_image', /9000 × 10 px; an image must be 1 to 8000 px on each side/],
    ['0 px', pngClaiming(0, 0), 'image/png', 400, 'bad_image', /1 to 8000 px/],
    ['larger than 2 MB', Buffer.concat([png, Buffer.alloc(2 * 1024 * 1024)]), 'image/png', 413, 'payload_too_large', /larger than 2 MB/],
    ['empty', Buffer.alloc(0), 'image/png', 400, 'bad_request', /body is empty|image's bytes/],
    ['no content type', png, null, 415, 'unsupported_media_type', /Send a PNG, JPEG, WebP or GIF image/],
  ];
  for (const [what, bytes, type, status, code, words] of cases) {
    const r = await upload(bytes, type);
    t.equal(r.status, status, `${what} → ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    t.equal(r.body.code, code, what);
    t.match(`${r.body.detail} ${(r.body.errors ?? []).map((e: { message: string }) => e.message).join(' ')}`, words, what);
  }
  t.same(filesIn(api.config.uploadsDir), before, 'nothing stored, no temp file left');
  await answersChecked(api);
});

t.test('far past the limit (25 MB, past the 20 MB nginx takes for /api/): nginx refuses it before buffering it, with the same problem answer', async (t) => {
  const png = await testImage('png', { width: 40, height: 40, seed: 6 });
  const r = await upload(Buffer.concat([png, Buffer.alloc(25 * 1024 * 1024)]), 'image/png');
  t.equal(r.status, 413);
  t.equal(r.headers.get('content-type'), 'application/problem+json');
  t.match(r.body, { status: 413, code: 'payload_too_large', detail: /larger than 2 MB/ });
});

t.test('admins only: anonymous 401, attendee, speaker and moderator 403', async (t) => {
  const png = await testImage('png', { width: 20, height: 20, seed: 7 });
  t.equal((await upload(png, 'image/png', { token: null })).status, 401);
  for (const role of ['attendee', 'speaker', 'moderator'] as const) {
    const u = await api.user(role);
    const r = await upload(png, 'image/png', { token: u.token });
    t.equal(r.status, 403, role);
  }
});

t.test('nginx serves nothing else under /uploads/: no listing, no temp files, no other names, no writes', async (t) => {
  const good = (await upload(await testImage('png', { width: 30, height: 30, seed: 11 }), 'image/png')).body.url as string;
  const name = good.slice('/uploads/'.length);
  writeFileSync(path.join(api.config.uploadsDir, `.${name}.abc.tmp`), 'half');
  writeFileSync(path.join(api.config.uploadsDir, 'notes.txt'), 'private');
  mkdirSync(path.join(api.config.uploadsDir, 'sub'), { recursive: true });
  for (const p of ['/uploads/', '/uploads', `/uploads/.${name}.abc.tmp`, '/uploads/notes.txt', '/uploads/sub/', `/uploads/${name.toUpperCase()}`, `/uploads/${name}.svg`, `/uploads/${'0'.repeat(64)}.png`, `/uploads/../uploads/${name}x`, `/uploads/sub/${name}`]) {
    const r = await fetch(base + p, { redirect: 'manual' });
    t.equal(r.status, 404, p);
  }
  t.equal((await fetch(base + good, { method: 'HEAD' })).status, 200, 'HEAD is fine');
  t.equal((await fetch(base + good, { method: 'POST', body: 'x' })).status, 405, 'POST is not');
  t.equal((await fetch(base + good, { method: 'DELETE' })).status, 405, 'nor DELETE');
});

t.test('an upload cut off mid-body never reaches the disk and harms nothing (through nginx and straight to the API)', async (t) => {
  const before = filesIn(api.config.uploadsDir);
  const png = await testImage('png', { width: 200, height: 200, seed: 13 });
  for (const port of [httpPort, apiPort]) {
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(`POST /api/uploads/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin.token}\r\nContent-Type: image/png\r\nContent-Length: ${png.length}\r\n\r\n`);
        s.write(png.subarray(0, Math.floor(png.length / 2)), () => setTimeout(() => (s.destroy(), resolve()), 300));
      });
      s.on('error', () => undefined);
    });
  }
  const after = await upload(png, 'image/png');
  t.equal(after.status, 201, 'the API still takes uploads');
  t.same(filesIn(api.config.uploadsDir), [...before, after.body.url.slice('/uploads/'.length)].sort(), 'only the whole upload was stored');
});

t.test('branding takes uploaded images’ URLs (and outside http(s) URLs), no other relative path', async (t) => {
  const logo = (await upload(await testImage('png', { width: 90, height: 30, seed: 17 }), 'image/png')).body.url as string;
  const banner = (await upload(await testImage('jpeg', { width: 900, height: 200, seed: 17 }), 'image/jpeg')).body.url as string;
  const at = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
  const ok = { title: 'Branded', startsAt: at(1), endsAt: at(2) };
  const created = await api.call('POST', '/events', { token: admin.token, body: { ...ok, branding: { logoUrl: logo, bannerUrl: banner } } });
  t.equal(created.status, 201, JSON.stringify(created.body));
  t.match(created.body.branding, { logoUrl: logo, bannerUrl: banner });
  const changed = await api.call('PUT', `/events/${created.body.id}`, { token: admin.token, body: { branding: { logoUrl: 'https://cdn.example/l.png', bannerUrl: banner } } });
  t.equal(changed.status, 200);
  t.match(changed.body.branding, { logoUrl: 'https://cdn.example/l.png', bannerUrl: banner });
  const hash = logo.slice('/uploads/'.length, -'.png'.length);
  for (const bad of ['/uploads/x.png', `/uploads/${hash}.svg`, `/uploads/${hash.toUpperCase()}.png`, `/uploads/${hash}.png?x=1`, `/uploads/../${hash}.png`, '/etc/passwd', `//evil.example/uploads/${hash}.png`, `uploads/${hash}.png`, `/hls/${hash}.png`, 'javascript:alert(1)', `data:image/png;base64,AAAA`]) {
    const r = await api.call('POST', '/events', { token: admin.token, body: { ...ok, branding: { logoUrl: bad } } });
    t.equal(r.status, 400, bad);
    t.match(r.body.errors, [{ field: 'body.branding.logoUrl', message: /logoUrl must be an http or https URL, or an uploaded image's address/ }], bad);
  }
  const long = await api.call('POST', '/events', { token: admin.token, body: { ...ok, branding: { bannerUrl: `https://x.example/${'a'.repeat(2048)}` } } });
  t.match(long.body.errors, [{ field: 'body.branding.bannerUrl', message: 'bannerUrl is at most 2048 characters' }]);
});

t.test('uploads are rate-limited per user (RATE_LIMIT_UPLOAD): 429 rate_limited with Retry-After', async (t) => {
  const limited = await startTestApi(t, { env: { RATE_LIMIT_UPLOAD: '2/1m', RATE_LIMIT_HOLD_MS: '0' } });
  const a = await limited.user('admin');
  const at = limited.base.replace(/\/api$/, '');
  const png = await testImage('png', { width: 16, height: 16, seed: 19 });
  t.equal((await upload(png, 'image/png', { token: a.token, at })).status, 201);
  t.equal((await upload(png, 'image/png', { token: a.token, at })).status, 200);
  const third = await upload(png, 'image/png', { token: a.token, at });
  t.equal(third.status, 429);
  t.equal(third.body.code, 'rate_limited');
  t.match(third.body.detail, /You are sending uploads too fast/);
  t.ok(Number(third.headers.get('retry-after')) >= 1);
});

t.test('a full disk: a clear 507, no temp file left, and the API goes on', { skip: !isRoot() && 'mounting a small tmpfs needs root' }, async (t) => {
  const dir = path.join(testDir('uploads-full'), 'uploads');
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32k', 'tmpfs', dir]);
  } catch (err) {
    t.comment(`cannot mount a tmpfs here: ${(err as Error).message}`);
    return;
  }
  t.teardown(() => execFileSync('umount', ['-l', dir]));
  const full = await startTestApi(t, { env: { ...NO_RATE_LIMITS, UPLOADS_DIR: dir } });
  const a = await full.user('admin');
  const at = full.base.replace(/\/api$/, '');
  const big = await testImage('png', { width: 400, height: 300, seed: 23, noise: true }); // noise: far more than 32 KB
  t.ok(big.length > 64 * 1024, `${big.length} bytes`);
  const r = await upload(big, 'image/png', { token: a.token, at });
  t.equal(r.status, 507, JSON.stringify(r.body));
  t.equal(r.body.code, 'insufficient_storage');
  t.match(r.body.detail, /disk is full, so the image was not stored/);
  t.same(filesIn(dir), [], 'the temp file was removed');
  const small = await upload(await testImage('png', { width: 8, height: 8, seed: 23 }), 'image/png', { token: a.token, at });
  t.equal(small.status, 201, 'a small one still fits: the API is fine');
  await answersChecked(full);
});
