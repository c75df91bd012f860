// Viewer analytics end to end over a real publish: simulated HLS players fetch their personal
// playback URLs through nginx, one viewer uses heartbeats (our web player), one only chats,
// votes and asks over the WebSocket. The counts, the peak and the watch time the API reports
// match what the test did within the documented bound; the report's CSV matches its JSON.
import t from 'tap';
import { startStack } from '../testing/stack.js';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { connectWs } from '../testing/ws.js';
import { parseCsv } from '../users/csv.js';
import { engagementScore } from './engagement.js';

const stack = await startStack(t, { extraEnv: { ANALYTICS_ROLLUP_EVERY: '2s' } });
const admin = stack.token;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const stream = await stack.createStream('Analytics');
const { event, session } = await stack.liveSessionOn(stream.id, 'Analytics day');
async function attendee(name: string) {
  const { id, token } = await stack.user(name);
  const joined = await stack.api('POST', `/events/${event.id}/join`, undefined, token);
  if (joined.status !== 201) throw new Error(`join → ${joined.status}`);
  return { id, name, token };
}
type Person = Awaited<ReturnType<typeof attendee>>;
const [ana, ben, cem, dia, eve] = (await Promise.all(['Ana', 'Ben', 'Cem', 'Dia', 'Eve'].map(attendee))) as [Person, Person, Person, Person, Person];
const figures = async (kind: 'sessions' | 'events', id: string) => {
  const r = await stack.api('GET', `/analytics/${kind}/${id}`, undefined, admin);
  if (r.status !== 200) throw new Error(`analytics → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

/** An HLS player: the master once, then the lowest rendition's playlist and new segments every 2 s. */
function player(url: string) {
  const times: number[] = [];
  const served = { rendition: '', segments: 0 };
  let stopped = false;
  const get = async (u: string) => {
    const r = await fetch(u);
    const body = Buffer.from(await r.arrayBuffer());
    if (r.status !== 200) throw new Error(`${r.status} for a player request`);
    times.push(Date.now());
    return body.toString('latin1');
  };
  const done = (async () => {
    const master = await get(url);
    const variants = [...master.matchAll(/BANDWIDTH=(\d+)[^\n]*\n([^\n#]+)/g)].map((m) => ({ bw: Number(m[1]), uri: m[2]!.trim() }));
    const lowest = variants.sort((a, b) => a.bw - b.bw)[0]!;
    served.rendition = lowest.uri.split('/')[0]!;
    const playlistUrl = new URL(lowest.uri, url).toString();
    const fetched = new Set<string>();
    while (!stopped) {
      const playlist = await get(playlistUrl);
      for (const seg of playlist.split('\n').filter((l) => l && !l.startsWith('#'))) {
        if (fetched.has(seg)) continue;
        fetched.add(seg);
        await get(new URL(seg, playlistUrl).toString());
        served.segments++;
      }
      await sleep(2000);
    }
  })();
  return { times, served, done, stop: () => ((stopped = true), done) };
}
const watched = (times: number[]) => {
  const s = [...times].sort((a, b) => a - b);
  return s.slice(1).reduce((n, x, i) => n + (x - s[i]! <= 20_000 ? x - s[i]! : 0), 0) / 1000;
};

t.test('counts, peak and watch time match what the players did', async (t) => {
  publishTestPattern(t, { url: stack.rtmpUrl(stream.streamKey), width: 640, height: 360, fps: 30, seconds: 150, videoKbps: 600 });
  await stack.waitForMaster(stream.playbackId, 60_000);
  const urls = new Map<string, string>();
  for (const u of [ana, ben, cem, dia]) urls.set(u.id, (await stack.api('GET', `/sessions/${session.id}`, undefined, u.token)).body.playbackUrl);
  const forged = urls.get(ana.id)!.replace(/\/v\/[A-Za-z0-9_-]{22}/, `/v/${'A'.repeat(22)}`);
  t.equal((await fetch(forged)).status, 403, 'a forged token is refused by nginx');
  const master = await fetch(urls.get(ana.id)!);
  t.same([master.status, master.headers.get('cache-control'), master.headers.get('content-type')], [200, 'no-cache', 'application/vnd.apple.mpegurl'], 'playlists through the viewer URL: not cached');
  await master.arrayBuffer();

  // our web player: heartbeats instead of HLS requests (its video would come from elsewhere)
  const beats: number[] = [];
  let beating = true;
  const heartbeats = (async () => {
    while (beating) {
      const r = await stack.api('POST', '/analytics/heartbeat', { sessionId: session.id }, dia.token);
      if (r.status === 202) beats.push(Date.now());
      await sleep(5_000);
    }
  })();
  // Eve takes part without watching: chat, a vote, a question (Ana upvotes it)
  const eveWs = await connectWs(`${stack.base.replace(/^http/, 'ws')}/ws`, { token: eve.token });
  const anaWs = await connectWs(`${stack.base.replace(/^http/, 'ws')}/ws`, { token: ana.token });
  t.teardown(() => (eveWs.close(), anaWs.close()));
  for (const ws of [eveWs, anaWs]) t.equal((await ws.request({ type: 'session:join', sessionId: session.id })).type, 'ack');

  const players = [player(urls.get(ana.id)!), player(urls.get(ana.id)!), player(urls.get(ben.id)!), player(urls.get(cem.id)!)];
  type Player = ReturnType<typeof player>;
  const [ana1, ana2, benP, cemP] = players as [Player, Player, Player, Player];
  const current = async () => (await figures('sessions', session.id)).currentViewers as number;
  await waitFor(async () => (await current()) === 4, { what: '4 viewers (Ana with two players counts once; Eve only chats)', timeoutMs: 25_000, intervalMs: 500 });
  t.pass('4 watching: Ana (two players, one viewer), Ben, Cem, Dia (heartbeats); Eve is not watching');

  // a bot hammering the heartbeat endpoint adds nothing
  const hammer = await Promise.all(Array.from({ length: 8 }, () => stack.api('POST', '/analytics/heartbeat', { sessionId: session.id }, dia.token)));
  t.ok(hammer.filter((r) => r.status === 429).length >= 7, 'heartbeats within 4 s of a counted one get 429');
  t.match(hammer.find((r) => r.status === 429)!.headers.get('retry-after'), /^\d+$/);
  t.equal((await stack.api('POST', '/analytics/heartbeat', { sessionId: session.id }, eve.token)).status === 202 ? 'counted' : 'refused', 'counted', 'a joined attendee may send heartbeats');
  // (Eve's single heartbeat makes her a viewer for 20 s: she is not counted below as "never watched")

  t.equal((await eveWs.request({ type: 'chat:send', sessionId: session.id, text: 'hello' })).type, 'ack');
  t.equal((await eveWs.request({ type: 'chat:send', sessionId: session.id, text: 'great talk' })).type, 'ack');
  const poll = (await stack.api('POST', '/polls', { sessionId: session.id, question: 'Lunch?', options: ['yes', 'no'] }, admin)).body;
  t.equal((await eveWs.request({ type: 'poll:vote', pollId: poll.id, optionId: poll.options[0].id })).type, 'ack');
  const asked = await eveWs.request({ type: 'question:ask', sessionId: session.id, text: 'What next?' });
  t.equal(asked.type, 'ack');
  const question = await eveWs.next((f) => f.type === 'question:new');
  t.equal((await anaWs.request({ type: 'question:upvote', questionId: question.question.id })).type, 'ack');

  await sleep(8_000);
  const benStopped = Date.now();
  await benP.stop();
  await ana2.stop(); // Ana keeps watching in her other player
  await waitFor(async () => (await current()) === 4 - 1 + 0, { what: 'Ben to expire', timeoutMs: 30_000, intervalMs: 500 });
  t.ok(Date.now() - benStopped <= 26_000, 'a viewer who left stops counting within the 20 s window (+ a little)');

  await sleep(6_000);
  await Promise.all([ana1.stop(), cemP.stop()]);
  beating = false;
  await heartbeats;

  const want = {
    [ana.id]: watched([...ana1.times, ...ana2.times]),
    [ben.id]: watched(benP.times),
    [cem.id]: watched(cemP.times),
    [dia.id]: watched(beats),
  };
  const total = Object.values(want).reduce((a, b) => a + b, 0);
  // the last lines reach the api within ~2 s (nginx's 1 s buffer, the forwarder, the batch) and
  // the roll-up runs every 2 s: wait until every figure has caught up, then check them all
  const fetchedSegments = players.reduce((n, p) => n + p.served.segments, 0);
  const caughtUp = (f: any) => // eslint-disable-line @typescript-eslint/no-explicit-any
    f.uniqueViewers === 5 &&
    [ana, ben, cem, dia].every((u) => Math.abs((f.engagement.attendees.find((p: { userId: string }) => p.userId === u.id)?.watchSeconds ?? -99) - want[u.id]!) <= 2) &&
    Math.abs((f.streamSessions[0]?.renditionsServed.find((r: { rendition: string }) => r.rendition === ana1.served.rendition)?.segments ?? 0) - fetchedSegments) <= 1;
  let s = await figures('sessions', session.id);
  await waitFor(async () => caughtUp((s = await figures('sessions', session.id))), { what: 'the roll-up to catch up', timeoutMs: 30_000, intervalMs: 1000 }).catch(() => undefined);
  t.equal(s.uniqueViewers, 5, 'five people watched (Eve for one heartbeat)');
  t.ok(Math.abs(s.watchTimeSeconds - total) <= 6, `watch time ${s.watchTimeSeconds} s ≈ ${total.toFixed(1)} s measured by the players (bound: ~1 s per viewer)`);
  t.equal(s.peakViewers, 5, 'peak: Ana, Ben, Cem, Dia and Eve’s heartbeat at once');
  t.ok(s.peakAt);
  t.same([s.chat, s.polls, s.questions], [{ messages: 2, senders: 1 }, { polls: 1, votes: 1, voters: 1 }, { questions: 1, answered: 0, upvotes: 1 }]);
  t.ok(s.series.length >= 1 && s.series.every((p: { viewers: number; peakViewers: number }) => p.viewers <= 5 && p.peakViewers <= p.viewers), 'a point per minute');
  const byUser = new Map(s.engagement.attendees.map((p: { userId: string }) => [p.userId, p]));
  for (const u of [ana, ben, cem, dia]) t.ok(Math.abs((byUser.get(u.id) as { watchSeconds: number }).watchSeconds - want[u.id]!) <= 2, `${u.name}'s watch time`);
  const evePerson = byUser.get(eve.id) as { messages: number; votes: number; questions: number; upvotes: number; watchSeconds: number; score: number };
  t.match(evePerson, { messages: 2, votes: 1, questions: 1, upvotes: 0 });
  t.equal(evePerson.score, engagementScore(evePerson, { scheduledSeconds: 3 * 3600, polls: 1 }), 'the score is the documented formula');

  const [ps] = s.streamSessions;
  t.match(ps, { source: { width: 640, height: 360 }, reconnect: false, endedAt: null });
  const served = ps.renditionsServed.find((r: { rendition: string }) => r.rendition === ana1.served.rendition);
  t.ok(Math.abs(served.segments - fetchedSegments) <= 1, `segments served of ${ana1.served.rendition}: ${served.segments} vs ${fetchedSegments} fetched`);

  const e = await figures('events', event.id);
  t.match(e, { uniqueViewers: 5, peakViewers: 5, watchTimeSeconds: s.watchTimeSeconds });
  t.equal(e.sessions[0].uniqueViewers, 5);
  await waitFor(async () => (await current()) === 0, { what: 'everyone to expire', timeoutMs: 30_000, intervalMs: 1000 });
  t.pass('stale viewers expire');

  const metrics = await (await fetch(`http://127.0.0.1:${stack.apiPort}/metrics`, { headers: { authorization: `Bearer ${stack.env.INTERNAL_API_KEY}` } })).text();
  const folded = Number(/onair_viewer_lines_total\{outcome="folded"[^}]*\} (\d+)/.exec(metrics)?.[1]);
  t.ok(folded >= players.reduce((n, p) => n + p.times.length, 0), `the api node's metrics show the viewer lines it folded (${folded})`);
  t.match(metrics, /onair_analytics_rollup_duration_seconds_count\{[^}]*\} [1-9]/, 'and its roll-up runs');
});

t.test('the user activity report: CSV parses and matches the JSON', async (t) => {
  const json = await stack.api('GET', `/analytics/users/report?format=json&eventId=${event.id}`, undefined, admin);
  t.equal(json.status, 200);
  const csv = await fetch(`${stack.base}/api/analytics/users/report?format=csv&eventId=${event.id}`, { headers: { authorization: `Bearer ${admin}` } });
  t.match(csv.headers.get('content-type'), /^text\/csv/);
  const [header, ...rows] = parseCsv(await csv.text());
  t.equal(rows.length, json.body.items.length);
  for (const [i, item] of json.body.items.entries()) {
    const row = Object.fromEntries(header!.fields.map((name, j) => [name, rows[i]!.fields[j]!]));
    t.same(
      [row.user_id, row.email, row.role, Number(row.events_joined), Number(row.sessions_watched), Number(row.watch_seconds), Number(row.messages), Number(row.votes), Number(row.questions), Number(row.upvotes)],
      [item.userId, item.email, item.role, item.eventsJoined, item.sessionsWatched, item.watchSeconds, item.messages, item.votes, item.questions, item.upvotes],
    );
    // last seen follows device activity, which the sign-ins of this test still move a little
    t.ok(row.last_seen_at === '' ? item.lastSeenAt === null : Math.abs(Date.parse(row.last_seen_at!) - Date.parse(item.lastSeenAt)) < 5_000, `${item.email}: last seen`);
  }
  const eveRow = json.body.items.find((r: { userId: string }) => r.userId === eve.id);
  t.match(eveRow, { eventsJoined: 1, messages: 2, votes: 1, questions: 1 });
  t.equal((await stack.api('GET', '/analytics/users/report', undefined, ana.token)).status, 403, 'admins only');
});
