// The LL-HLS playlist origin, live: real Redis, the origin role process, and the shipped nginx in
// front of it. The test plays the worker's side itself: it writes part files (atomically) under
// the media dir and publishes `llhls.part` messages on the bus (and the last key), as the packager
// will. Blocking reloads are held until their part's message arrives (asserted by state, not by
// timing), bad directives are 400, a stalled playlist 503 after 3 × TD, an ended one ignores
// directives, the hinted part is held and then served by nginx from disk, a future part that is
// not hinted is 404, the viewer's token path and the plain path both reach it (the token path
// still checked and still writing viewer lines), a restarted origin answers from the last key,
// and malformed messages do not crash it.
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { openDatagram, viewerDatagramKey } from '../analytics/viewer-datagram.js';
import { PREVIEW_SESSION_ID, signPlaybackToken } from '../analytics/playback.js';
import { silentLog } from '../log.js';
import { freePort } from '../local/processes.js';
import { createBus } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { randomId, spawnRole, startTestNginx, testDir, testEnv, waitFor, type RoleProc } from '../testing/harness.js';
import { LAST_TTL_SECONDS, lastKey, type LlPartMessage } from './feed.js';

const { redisUrl } = testEnv();
const prefix = `t${randomId()}`;
const secret = 'L'.repeat(40);
const apiKey = 'k'.repeat(24);
const dataDir = testDir('llorigin');
const mediaDir = path.join(dataDir, 'media');
const originPort = await freePort();
const collectorPort = await freePort(); // nginx's viewer lines arrive here (the api node's UDP port)

const redis = createRedis({ url: redisUrl, log: silentLog(), purpose: 'test' });
const sub = createRedis({ url: redisUrl, log: silentLog(), purpose: 'test-sub' });
t.teardown(() => void (redis.disconnect(), sub.disconnect()));
const bus = createBus({ pub: redis, sub, prefix, log: silentLog() });

const originEnv = { REDIS_URL: redisUrl, REDIS_PREFIX: prefix, ORIGIN_PORT: String(originPort), INTERNAL_API_KEY: apiKey, DATA_DIR: dataDir, LOG_LEVEL: 'info' };
async function startOrigin(): Promise<RoleProc> {
  const p = spawnRole(t, 'origin', originEnv);
  await waitFor(() => fetch(`http://127.0.0.1:${originPort}/healthz`).then((r) => r.ok, () => false), { what: 'the origin to answer' });
  return p;
}
let origin = await startOrigin();

const lines: string[] = [];
const udp = createSocket('udp4');
udp.on('message', (d) => {
  const opened = openDatagram(d, viewerDatagramKey(secret));
  if (opened) lines.push(...opened.body.split('\n').filter(Boolean));
});
await new Promise<void>((r) => udp.bind(collectorPort, '127.0.0.1', () => r()));
t.teardown(() => udp.close());
const httpPort = await startTestNginx(t, { dataDir, mediaDir, apiPort: collectorPort, playbackSecret: secret, originPort });
const base = `http://127.0.0.1:${httpPort}`;

const PID = 'llorigin' + randomId(6);
const token = signPlaybackToken(secret, { playbackId: PID, sessionId: PREVIEW_SESSION_ID, userId: PREVIEW_SESSION_ID });
const plainUrl = (rend: string, file: string) => `${base}/hls/${PID}/${rend}/${file}`;
const tokenUrl = (rend: string, file: string) => `${base}/hls/${PID}/v/${token}/${rend}/${file}`;

/** One rendition as the packager would feed it: part files first (atomically), then the message. */
function rendition(name: string, o: { td?: number; presentation?: string } = {}) {
  const dir = path.join(mediaDir, 'hls', PID, name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const s = { msn: 1, part: -1, ended: false, presentation: o.presentation ?? 'pres1', parts: [] as string[] };
  const td = o.td ?? 1;
  const partName = (msn: number, part: number) => `p${msn}.${part}.m4s`;
  const message = (): LlPartMessage => {
    const hint = s.ended ? null : partName(s.msn, s.part + 1);
    const playlist = [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      `#EXT-X-TARGETDURATION:${td}`,
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.75',
      '#EXT-X-PART-INF:PART-TARGET=0.25',
      '#EXT-X-MEDIA-SEQUENCE:1',
      ...s.parts.map((p) => `#EXT-X-PART:DURATION=0.25,URI="${p}"`),
      ...(hint ? [`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${hint}"`] : ['#EXT-X-ENDLIST']),
      `# newest ${s.msn}.${s.part}`,
      '',
    ].join('\n');
    return { v: 1, playbackId: PID, rendition: name, presentation: s.presentation, msn: s.msn, part: s.part, partName: partName(s.msn, s.part), hint, ended: s.ended, targetDuration: td, partTarget: 0.25, playlist, at: Date.now() };
  };
  return {
    name,
    get msn() { return s.msn; },
    get part() { return s.part; },
    /** The name of the part the playlist hints now (the next one). */
    hint: () => partName(s.msn, s.part + 1),
    bytesOf: (file: string) => `media of ${name}/${file}`,
    /** Writes the next part (a new segment when `cut`) and publishes its message. */
    async next(n: { cut?: boolean; ended?: boolean } = {}) {
      if (n.cut) [s.msn, s.part] = [s.msn + 1, -1];
      s.part++;
      const file = partName(s.msn, s.part);
      writeFileSync(path.join(dir, file + '.tmp'), `media of ${name}/${file}`, { mode: 0o644 });
      renameSync(path.join(dir, file + '.tmp'), path.join(dir, file));
      s.parts.push(file);
      s.ended = !!n.ended;
      const m = message();
      await redis.set(lastKey(prefix, PID, name), JSON.stringify(m), 'EX', LAST_TTL_SECONDS);
      await bus.publish('llhls.part', m);
      return m;
    },
  };
}

/** The origin's own counters (Bearer INTERNAL_API_KEY). */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${originPort}/metrics`, { headers: { authorization: `Bearer ${apiKey}` } })).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m && m[1] === name && want.every((w) => m[2]!.split(',').includes(w))) return Number(m[3]);
  }
  return 0;
}
const held = (kind: 'playlist' | 'part') => metric('onair_llhls_held_requests', { kind });

/** A request whose answer is watched: `settled` says whether it has come. */
function watch(url: string, init: RequestInit = {}) {
  const w = { settled: false, response: null as unknown as Promise<{ status: number; text: string; headers: Headers }> };
  w.response = fetch(url, init).then(async (r) => ({ status: r.status, text: await r.text(), headers: r.headers })).finally(() => (w.settled = true));
  return w;
}
/** Holds until the origin reports `n` held requests of a kind (state, not a timer). */
const heldBecomes = (kind: 'playlist' | 'part', n: number) => waitFor(async () => (await held(kind)) === n, { what: `${n} held ${kind} request(s)` });
const get = async (url: string, init: RequestInit = {}) => {
  const r = await fetch(url, init);
  return { status: r.status, text: await r.text(), headers: r.headers };
};

const hd = rendition('720p');
await hd.next();
await waitFor(async () => (await get(plainUrl('720p', 'index.m3u8'))).status === 200, { what: 'the first playlist through nginx' });

t.test('no directives: the newest playlist at once, as a playlist, never cached, gzipped for who accepts it', async (t) => {
  await hd.next();
  const r = await waitFor(async () => {
    const x = await get(plainUrl('720p', 'index.m3u8'));
    return x.text.includes(`# newest ${hd.msn}.${hd.part}`) ? x : null;
  }, { what: 'the newest playlist' });
  t.equal(r.status, 200);
  t.equal(r.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  t.equal(r.headers.get('cache-control'), 'no-cache', "nginx's header, once (the origin's is hidden)");
  t.equal(r.headers.get('access-control-allow-origin'), '*');
  const gz = await fetch(plainUrl('720p', 'index.m3u8'), { headers: { 'accept-encoding': 'gzip' } });
  t.equal(gz.headers.get('content-encoding'), 'gzip');
  t.match(await gz.text(), /#EXTM3U/, 'fetch unpacks it');
  const raw = await fetch(plainUrl('720p', 'index.m3u8'), { headers: { 'accept-encoding': 'identity' } });
  t.equal(raw.headers.get('content-encoding'), null);
  t.equal(raw.headers.get('content-length'), String(Buffer.byteLength(await raw.text())));
  const head = await fetch(plainUrl('720p', 'index.m3u8'), { method: 'HEAD' });
  t.equal(head.status, 200, 'HEAD too');
});

t.test('a blocking reload is held until the part it asks for is published, then gets the whole newest playlist', async (t) => {
  const [msn, part] = [hd.msn, hd.part + 1];
  const w = watch(plainUrl('720p', `index.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`));
  await heldBecomes('playlist', 1);
  t.notOk(w.settled, 'not answered while the part is not there');
  await hd.next();
  const r = await w.response;
  t.equal(r.status, 200);
  t.match(r.text, `# newest ${msn}.${part}`, 'the playlist that holds it');
  t.match(r.text, /#EXT-X-PRELOAD-HINT/, 'whole');
  t.equal(await held('playlist'), 0);

  // the next segment's first part, asked as hls.js does at the end of a segment; and _HLS_msn alone
  const next = watch(plainUrl('720p', `index.m3u8?_HLS_msn=${hd.msn + 1}&_HLS_part=0`));
  const seg = watch(plainUrl('720p', `index.m3u8?_HLS_msn=${hd.msn}`));
  await heldBecomes('playlist', 2);
  await hd.next();
  t.notOk(next.settled || seg.settled, 'another part of the same segment answers neither');
  await hd.next({ cut: true });
  t.match((await next.response).text, `# newest ${hd.msn}.0`);
  t.match((await seg.response).text, `# newest ${hd.msn}.0`, 'segment complete once the next one starts');
  // a part asked past the last one its segment got: answered by the next segment (overflow)
  const over = await get(plainUrl('720p', `index.m3u8?_HLS_msn=${hd.msn - 1}&_HLS_part=9`));
  t.equal(over.status, 200);
});

t.test('bad directives are 400 at once', async (t) => {
  const ask = (q: string) => get(plainUrl('720p', `index.m3u8?${q}`)).then((r) => r.status);
  t.equal(await ask('_HLS_part=1'), 400, '_HLS_part without _HLS_msn');
  t.equal(await ask(`_HLS_msn=${hd.msn + 3}`), 400, 'more than two segments ahead');
  t.equal(await ask(`_HLS_msn=${hd.msn}&_HLS_part=${hd.part + 13}`), 400, 'beyond the advance part limit (3 / 0.25 = 12 parts)');
  t.equal(await ask('_HLS_msn=x'), 400, 'not a number');
  t.equal(await held('playlist'), 0, 'none held');
});

t.test('a playlist that does not move on: 503 after 3 × the target duration', async (t) => {
  const stall = rendition('stall', { td: 1 });
  await stall.next();
  await waitFor(async () => (await get(plainUrl('stall', 'index.m3u8'))).status === 200, { what: 'the stalled rendition known' });
  const w = watch(plainUrl('stall', `index.m3u8?_HLS_msn=${stall.msn}&_HLS_part=${stall.part + 1}`));
  await heldBecomes('playlist', 1);
  const r = await w.response;
  t.equal(r.status, 503);
  t.equal(await metric('onair_llhls_requests_total', { kind: 'playlist', outcome: 'timeout' }), 1);
});

t.test('ended: directives are ignored, the final playlist at once', async (t) => {
  const end = rendition('ended');
  await end.next();
  await end.next({ ended: true });
  const r = await waitFor(async () => {
    const x = await get(plainUrl('ended', `index.m3u8?_HLS_msn=${end.msn + 2}&_HLS_part=5`));
    return x.status === 200 ? x : null;
  }, { what: 'the ended playlist' });
  t.match(r.text, /#EXT-X-ENDLIST/);
  t.equal((await get(plainUrl('ended', `index.m3u8?_HLS_msn=${end.msn + 40}`))).status, 200, 'even far ahead');
});

t.test('the hinted part is held and then served by nginx from disk; a future part not hinted is 404', async (t) => {
  for (const [how, url] of [['token path', tokenUrl], ['plain path', plainUrl]] as const) {
    const hint = hd.hint();
    const w = watch(url('720p', hint));
    await heldBecomes('part', 1);
    t.notOk(w.settled, `${how}: held while not written`);
    await hd.next();
    const r = await w.response;
    t.equal(r.status, 200, how);
    t.equal(r.text, hd.bytesOf(hint), `${how}: the file's bytes`);
    t.equal(r.headers.get('content-type'), 'video/mp4');
    t.match(r.headers.get('cache-control') ?? '', /immutable/, 'served as the static part it now is');
    t.equal((await get(url('720p', hint))).text, hd.bytesOf(hint), 'and statically from then on');
  }
  const far = `p${hd.msn}.${hd.part + 2}.m4s`;
  t.equal((await get(plainUrl('720p', far))).status, 404, 'a part after the hinted one: 404 at once');
  t.equal((await get(tokenUrl('720p', `p${hd.msn + 5}.0.m4s`))).status, 404, 'on the token path too');
  t.equal((await get(plainUrl('720p', 'p0.0.m4s'))).status, 404, 'an old part that is not there');
  // the newest part, named by the feed but not readable where nginx looks: handed back once, then 404 (no redirect loop, no 500)
  // (a fresh part: one nginx served before may still come from its open-file cache for a second)
  await hd.next();
  const newest = `p${hd.msn}.${hd.part}.m4s`;
  rmSync(path.join(mediaDir, 'hls', PID, '720p', newest));
  t.equal((await get(tokenUrl('720p', newest))).status, 404, 'a part the origin handed back that nginx still cannot find: 404');
  t.equal((await get(plainUrl('720p', newest))).status, 404, 'on the plain path too');
  t.equal(await held('part'), 0);
});

t.test("the viewer's token path reaches the origin after nginx's checks, and a served playlist is a viewer line", async (t) => {
  const before = lines.length;
  const r = await get(tokenUrl('720p', 'index.m3u8'));
  t.equal(r.status, 200);
  t.match(r.text, `# newest ${hd.msn}.${hd.part}`);
  const w = watch(tokenUrl('720p', `index.m3u8?_HLS_msn=${hd.msn}&_HLS_part=${hd.part + 1}`));
  await heldBecomes('playlist', 1);
  await hd.next();
  t.equal((await w.response).status, 200, 'blocking works on the token path');
  const vid = token.split('.')[0]!;
  const mine = await waitFor(() => {
    const got = lines.slice(before).filter((l) => l.includes(` ${vid} 200 `) && l.includes(' 720p/index.m3u8 '));
    return got.length >= 2 ? got : null;
  }, { what: 'viewer lines for the proxied playlists' });
  t.equal(mine.length, 2, 'one viewer line per answered playlist, like a static one');
  const forged = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
  t.equal((await get(`${base}/hls/${PID}/v/${forged}/720p/index.m3u8`)).status, 403, 'a forged token never reaches the origin');
  t.equal((await get(`${base}/hls/${PID}/v/${forged}/720p/${hd.hint()}`)).status, 403, 'nor for a part');
});

t.test('standard mode is untouched: a playlist on disk is served by nginx, a missing one that no feed knows is 404', async (t) => {
  const dir = path.join(mediaDir, 'hls', PID, 'std');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(path.join(dir, 'index.m3u8'), '#EXTM3U\n# static\n', { mode: 0o644 });
  const okBefore = await metric('onair_llhls_requests_total', { kind: 'playlist', outcome: 'ok' });
  const r = await get(plainUrl('std', 'index.m3u8?_HLS_msn=99'));
  t.equal(r.text, '#EXTM3U\n# static\n');
  t.ok(r.headers.get('etag'), 'a static answer (nginx sets an ETag)');
  t.equal(await metric('onair_llhls_requests_total', { kind: 'playlist', outcome: 'ok' }), okBefore, 'the origin was not asked');
  t.equal((await get(plainUrl('none', 'index.m3u8'))).status, 404);
  t.equal((await get(tokenUrl('none', 'index.m3u8'))).status, 404);
});

t.test('malformed bus messages are dropped; the origin goes on', async (t) => {
  const channel = `${prefix}:bus:llhls.part`;
  await redis.publish(channel, 'not json');
  for (const bad of [{}, { v: 1 }, { ...(await hd.next()), playbackId: '../x' }, { ...(await hd.next()), msn: -1 }]) await redis.publish(channel, JSON.stringify(bad));
  await waitFor(async () => (await metric('onair_llhls_messages_dropped_total', { why: 'invalid' })) >= 3, { what: 'the bad messages counted' });
  t.equal(origin.child.exitCode, null, 'still running');
  const w = watch(plainUrl('720p', `index.m3u8?_HLS_msn=${hd.msn}&_HLS_part=${hd.part + 1}`));
  await heldBecomes('playlist', 1);
  await hd.next();
  t.equal((await w.response).status, 200, 'and answers as before');
});

t.test('stopping: held requests are answered 503; a restarted origin answers from the last key', async (t) => {
  const w = watch(plainUrl('720p', `index.m3u8?_HLS_msn=${hd.msn}&_HLS_part=${hd.part + 1}`));
  await heldBecomes('playlist', 1);
  origin.kill('SIGTERM');
  t.equal((await w.response).status, 503, 'the held request is answered, not dropped');
  t.equal(await origin.exited, 0, 'a clean stop');
  t.equal((await get(plainUrl('720p', 'index.m3u8'))).status, 404, 'while no origin answers: 404, as for a file that is not there');
  t.equal((await get(tokenUrl('720p', 'index.m3u8?_HLS_msn=1'))).status, 404, 'on the token path too');
  const logs = ['nginx-access.log', 'nginx-error.log'].map((f) => readFileSync(path.join(dataDir, 'logs', f), 'utf8')).join('\n');
  t.match(logs, /connect\(\) failed/, 'the plain path logged the unreachable origin');
  t.notOk(logs.includes(token.split('.').at(-1)!), 'no log line holds the playback token (the viewer path logs no upstream errors)');
  const newest = `# newest ${hd.msn}.${hd.part}`;
  origin = await startOrigin(); // no message since: all it knows is the last key
  const r = await get(plainUrl('720p', 'index.m3u8'));
  t.equal(r.status, 200);
  t.match(r.text, newest, 'the newest playlist, from Redis');
  const hinted = watch(plainUrl('720p', hd.hint()));
  await heldBecomes('part', 1);
  await hd.next();
  t.equal((await hinted.response).status, 200, 'and holds the hinted part from there on');
});
