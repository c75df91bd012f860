// Viewer lines cannot be forged, over a real publish: nginx writes a line only for token-checked
// GET/HEAD requests it served; the api node folds only lines of the session's own renditions,
// refuses datagrams it did not get from our forwarder or got before, and stops counting a
// viewer the moment they are banned.
import { createHmac } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { publishTestPattern, randomId, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { parseViewerId, signPlaybackToken, viewerId } from './playback.js';
import { createDatagramSealer, viewerDatagramKey } from './viewer-datagram.js';

const stack = await startStack(t, { extraEnv: { ANALYTICS_ROLLUP_EVERY: '2s' } });
const admin = stack.token;
const HOUR = 3_600_000;
const at = (h: number) => new Date(Date.now() + h * HOUR).toISOString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stream = await stack.createStream('Lines');
const { event, session } = await stack.liveSessionOn(stream.id, 'Lines day');
publishTestPattern(t, { url: stack.rtmpUrl(stream.streamKey), width: 640, height: 360, fps: 15, seconds: 240, videoKbps: 400 });
await stack.waitForMaster(stream.playbackId, 60_000);

async function attendee(name: string) {
  const { id, token } = await stack.user(name);
  const joined = await stack.api('POST', `/events/${event.id}/join`, undefined, token);
  if (joined.status !== 201) throw new Error(`join → ${joined.status}`);
  const url = (await stack.api('GET', `/sessions/${session.id}`, undefined, token)).body.playbackUrl as string;
  return { id, name, token, url };
}

const figures = async (id: string) => {
  const r = await stack.api('GET', `/analytics/sessions/${id}`, undefined, admin);
  if (r.status !== 200) throw new Error(`analytics → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};
const current = async (id: string) => (await figures(id)).currentViewers as number;

// lines sent to the api node as the forwarder beside nginx sends them
const socket = createSocket('udp4');
t.teardown(() => socket.close());
let requests = 0;
const lineOf = (o: { sessionId: string; userId: string; path: string; at?: number }) =>
  `v1 ${((o.at ?? Date.now()) / 1000).toFixed(3)} ${viewerId(o.sessionId, o.userId)} 200 1000 ${o.path} ${(++requests).toString(16).padStart(32, 'f')}`;
const sealer = createDatagramSealer({ key: viewerDatagramKey(stack.env.PLAYBACK_SECRET!) });
const sendDatagram = (d: Buffer) => new Promise<void>((r) => socket.send(d, stack.apiPort, '127.0.0.1', () => r()));
const sendLines = async (lines: string[]) => {
  for (const d of sealer.seal(lines)) await sendDatagram(d);
};
/** A counter of the api node's /metrics. */
async function counter(name: string, outcome: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.apiPort}/metrics`, { headers: { authorization: `Bearer ${stack.env.INTERNAL_API_KEY}` } })).text();
  return Number(new RegExp(`^${name}\\{outcome="${outcome}"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
}
const createSession = async (body: object) => {
  const r = await stack.api('POST', `/events/${event.id}/sessions`, body, admin);
  if (r.status !== 201) throw new Error(`session → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};
const newUser = async () => (await stack.db.query<{ id: string }>(`INSERT INTO users (email, name) VALUES ($1, 'Someone') RETURNING id`, [`u-${randomId()}@example.com`])).rows[0]!.id;

const viewerLinesFile = path.join(stack.dataDir, 'nginx', 'viewer-lines.log');
const accessLog = path.join(stack.dataDir, 'logs', 'nginx-access.log');
const read = (f: string) => {
  try {
    return readFileSync(f, 'latin1');
  } catch {
    return '';
  }
};

t.test('nginx writes a viewer line only for token-checked GET/HEAD requests it served', async (t) => {
  const viewer = await attendee('Lia');
  const url = viewer.url;
  const vid = /\/v\/([A-Za-z0-9_-]{44})\./.exec(url)![1]!;
  const base = url.slice(0, url.lastIndexOf('/') + 1);
  const master = await (await fetch(url)).text();
  const variant = master.split('\n').find((l) => l.endsWith('.m3u8'))!;
  const playlist = await (await fetch(base + variant)).text();
  const seg1 = playlist.split('\n').find((l) => l.endsWith('.ts'));
  t.ok(seg1, 'the rendition lists a segment');
  const segment = `${variant.split('/')[0]}/${seg1}`;

  const head = await fetch(base + variant, { method: 'HEAD' });
  const range = await fetch(base + segment, { headers: { range: 'bytes=0-99' } });
  await range.arrayBuffer();
  const notModified = await fetch(base + segment, { headers: { 'if-modified-since': range.headers.get('last-modified')! } });
  t.same([head.status, range.status, notModified.status], [200, 206, 304], 'HEAD 200, Range 206, If-Modified-Since 304');

  const expired = signPlaybackToken(stack.env.PLAYBACK_SECRET!, { playbackId: stream.playbackId, ...parseViewerId(vid)!, nowMs: Date.now() - 3 * 24 * HOUR });
  const refused = [
    await fetch(base + segment, { method: 'OPTIONS', headers: { origin: 'http://example.com', 'access-control-request-method': 'GET' } }),
    await fetch(url, { method: 'POST', body: 'x' }),
    await fetch(`${base}${variant.split('/')[0]}/nope.ts`),
    await fetch(url.replace(/\.[A-Za-z0-9_-]{22}\/master\.m3u8$/, `.${'A'.repeat(22)}/master.m3u8`)),
    await fetch(url.replace(/\/v\/[^/]+\//, `/v/${expired}/`)),
  ];
  for (const r of refused) await r.arrayBuffer();
  t.same(refused.map((r) => r.status), [204, 405, 404, 403, 410], 'OPTIONS, POST, a missing file, a forged and an expired token');

  // nginx flushes its viewer-line buffer every second: wait for the served ones, then a little more
  const want = ['200 master.m3u8', `200 ${variant}`, `200 ${variant}`, `206 ${segment}`, `304 ${segment}`].sort();
  const mine = () => read(viewerLinesFile).split('\n').filter((l) => l.split(' ')[2] === vid).map((l) => `${l.split(' ')[3]} ${l.split(' ')[5]}`).sort();
  await waitFor(() => mine().length >= want.length, { what: 'the viewer lines', timeoutMs: 10_000 }).catch(() => undefined);
  await sleep(2_500);
  t.same(mine(), want, 'one line per served GET/HEAD (200, 206, 304), none for the others');
  const all = read(viewerLinesFile).split('\n').filter((l) => l.length > 0);
  t.ok(all.length > 0 && all.every((l) => /^v1 \S+ \S+ (200|206|304) /.test(l)), 'no line for a refused or unserved request in the whole file');
  const access = read(accessLog);
  for (const status of [204, 405, 404, 403, 410]) t.match(access, new RegExp(`"(OPTIONS|POST|GET) /hls/${stream.playbackId}/v/-/[^"]*" ${status} `), `the ${status} is in the access log instead`);
});

t.test('lines count only for a session with a stream, in one of its renditions', async (t) => {
  const later = await createSession({ title: 'Later', startsAt: at(2), endsAt: at(2.5), streamId: stream.id });
  const streamless = await createSession({ title: 'No stream', startsAt: at(2), endsAt: at(2.5) });
  const renditions = ((await stack.api('GET', `/streams/${stream.id}`, undefined, admin)).body.renditions as { name: string }[]).map((r) => r.name);
  t.ok(renditions.length > 0, `the stream produces ${renditions.join(', ')}`);
  const [real, forger, other] = [await newUser(), await newUser(), await newUser()];
  await sendLines([
    lineOf({ sessionId: later.id, userId: forger, path: 'master/s1.ts' }),
    lineOf({ sessionId: later.id, userId: forger, path: 'junk/index.m3u8' }),
    lineOf({ sessionId: streamless.id, userId: other, path: 'master.m3u8' }),
    lineOf({ sessionId: streamless.id, userId: other, path: `${renditions[0]}/index.m3u8` }),
    lineOf({ sessionId: later.id, userId: real, path: `${renditions[0]}/index.m3u8` }),
  ]);
  await waitFor(async () => (await current(later.id)) >= 1, { what: 'the real line to count', timeoutMs: 10_000 });
  await sleep(1_000);
  t.equal(await current(later.id), 1, 'a line of a rendition the stream does not produce adds no viewer');
  t.equal(await current(streamless.id), 0, 'lines of a session with no stream add no viewer');
  t.ok((await counter('onair_viewer_lines_total', 'rejected')) >= 4, 'and they are counted as rejected');
});

t.test('a captured datagram sent again changes nothing; an altered or old-format one is refused', async (t) => {
  const replayed = await createSession({ title: 'Replayed', startsAt: at(2.5), endsAt: at(2.9), streamId: stream.id });
  const renditions = ((await stack.api('GET', `/streams/${stream.id}`, undefined, admin)).body.renditions as { name: string }[]).map((r) => r.name);
  const user = await newUser();
  const [captured] = sealer.seal([lineOf({ sessionId: replayed.id, userId: user, path: `${renditions[0]}/index.m3u8` })]);
  await sendDatagram(captured!);
  await waitFor(async () => (await current(replayed.id)) === 1, { what: 'the datagram to count', timeoutMs: 10_000 });
  await sleep(1_000);
  const before = { folded: await counter('onair_viewer_lines_total', 'folded'), replayed: await counter('onair_viewer_datagrams_total', 'replayed'), forged: await counter('onair_viewer_datagrams_total', 'forged') };
  const figuresBefore = await figures(replayed.id);

  for (let i = 0; i < 3; i++) await sendDatagram(captured!);
  const altered = Buffer.from(captured!);
  altered[altered.length - 2] = altered[altered.length - 2]! ^ 0x01;
  await sendDatagram(altered);
  // the format before datagrams were sealed one by one: a fixed tag derived from the secret
  const oldTag = createHmac('sha256', stack.env.PLAYBACK_SECRET!).update('onair viewer log').digest('hex').slice(0, 32);
  await sendDatagram(Buffer.from(`onair-viewers ${oldTag}\n${lineOf({ sessionId: replayed.id, userId: await newUser(), path: 'master.m3u8' })}\n`, 'latin1'));
  await sleep(2_000);

  t.equal(await counter('onair_viewer_datagrams_total', 'replayed'), before.replayed + 3, 'the three repeats are refused as replayed');
  t.equal(await counter('onair_viewer_datagrams_total', 'forged'), before.forged + 2, 'the altered and the old-format datagram as forged');
  t.equal(await counter('onair_viewer_lines_total', 'folded'), before.folded, 'no line of theirs is folded');
  const after = await figures(replayed.id);
  t.same([after.currentViewers, after.peakViewers], [figuresBefore.currentViewers, figuresBefore.peakViewers], 'and no figure moves');
});

/** An HLS player on its URL: the master, then the first variant's playlist and new segments every 2 s. */
function player(url: string) {
  const times: number[] = [];
  let stopped = false;
  const get = async (u: string) => {
    const r = await fetch(u);
    const text = Buffer.from(await r.arrayBuffer()).toString('latin1');
    if (r.status === 200) times.push(Date.now());
    return r.status === 200 ? text : '';
  };
  const done = (async () => {
    const variant = (await get(url)).split('\n').find((l) => l.endsWith('.m3u8'));
    if (!variant) throw new Error('no variant in the master playlist');
    const playlistUrl = new URL(variant, url).toString();
    const fetched = new Set<string>();
    while (!stopped) {
      for (const seg of (await get(playlistUrl)).split('\n').filter((l) => l && !l.startsWith('#'))) {
        if (fetched.has(seg)) continue;
        fetched.add(seg);
        await get(new URL(seg, playlistUrl).toString());
      }
      await sleep(2000);
    }
  })();
  return { times, stop: () => ((stopped = true), done) };
}
const watched = (times: number[]) => {
  const s = [...times].sort((a, b) => a - b);
  return s.slice(1).reduce((n, x, i) => n + (x - s[i]! <= 20_000 ? x - s[i]! : 0), 0) / 1000;
};

t.test('a viewer banned mid-watch stops counting at once; their heartbeats are refused', async (t) => {
  const watch = session; // (a stream serves one session at a time; Lia of the first test expires from it within 20 s)
  const [ana, ben] = [await attendee('Ana'), await attendee('Ben')];
  const urlOf = async (token: string) => (await stack.api('GET', `/sessions/${watch.id}`, undefined, token)).body.playbackUrl as string;
  const [anaP, benP] = [player(await urlOf(ana.token)), player(await urlOf(ben.token))];
  await waitFor(async () => (await current(watch.id)) === 2, { what: 'both players to count', timeoutMs: 20_000, intervalMs: 500 });
  await sleep(6_000);

  const banned = await stack.api('POST', `/events/${event.id}/bans`, { userId: ben.id }, admin);
  t.equal(banned.status, 201, 'Ben is banned');
  const bannedAt = Date.now();
  const beat = await stack.api('POST', '/analytics/heartbeat', { sessionId: watch.id }, ben.token);
  t.same([beat.status, beat.body.code], [403, 'banned'], 'his heartbeat is refused');
  // nginx refuses his URL from now on (the playback gate's deny marker), but lines of requests it
  // served before the marker applied may still be on their way: here they keep coming, as
  // datagrams from the forwarder, for half a minute. None of them may count.
  let feeding = true;
  const renditions = ((await stack.api('GET', `/streams/${stream.id}`, undefined, admin)).body.renditions as { name: string }[]).map((r) => r.name);
  const fed = (async () => {
    let n = 0;
    while (feeding) {
      await sendLines([lineOf({ sessionId: watch.id, userId: ben.id, path: `${renditions[0]}/in-flight-${n++}.ts` })]);
      await sleep(1_000);
    }
    return n;
  })();
  await waitFor(async () => (await current(watch.id)) === 1, { what: 'Ben to stop counting', timeoutMs: 30_000, intervalMs: 500 });
  t.ok(Date.now() - bannedAt <= 24_000, 'he stops counting within the 20 s window of his last line before the ban');
  await sleep(4_000);
  t.equal(await current(watch.id), 1, 'while his lines still come, only Ana counts');
  feeding = false;
  const linesAfterBan = await fed;
  await Promise.all([anaP.stop(), benP.stop()]);
  t.ok(linesAfterBan > 10, `${linesAfterBan} lines of his came after the ban`);
  t.ok(benP.times.filter((x) => x > bannedAt + 5_000).length === 0, 'and nginx served him nothing after it (the playback gate)');

  const benBefore = watched(benP.times.filter((x) => x <= bannedAt));
  const anaWant = watched(anaP.times);
  let people: { userId: string; watchSeconds: number }[] = [];
  await waitFor(async () => {
    people = (await figures(watch.id)).engagement.attendees;
    return Math.abs((people.find((p) => p.userId === ana.id)?.watchSeconds ?? 0) - anaWant) <= 3;
  }, { what: 'the roll-up to write Ana’s watch time', timeoutMs: 30_000, intervalMs: 1000 }).catch(() => undefined);
  const seconds = (id: string) => people.find((p) => p.userId === id)?.watchSeconds ?? 0;
  t.ok(Math.abs(seconds(ana.id) - anaWant) <= 3, `Ana's watch time ${seconds(ana.id)} s ≈ ${anaWant.toFixed(1)} s`);
  t.ok(seconds(ben.id) <= benBefore + 3, `Ben's watch time ${seconds(ben.id)} s: only what he watched before the ban (${benBefore.toFixed(1)} s), none of the ${linesAfterBan} s of lines after it`);
});
