// The relay output against a whole stack (api, ingest, worker, nginx, Postgres, Redis), all real:
// a real ffmpeg publishes to the ingest, and the destinations are Debian's nginx-rtmp on this
// machine, each recording what it receives. A publish reaches both destinations as it was sent
// (codec copy); a destination that dies and comes back is live again while the other and the HLS
// output go on untouched; a destination refusing the key retries, says why, and no key shows up
// anywhere; destinations added or disabled while live take effect within seconds without
// restarting ffmpeg; `relay:status` of the real transitions reaches staff and speakers, never
// attendees. One stack for the file; publishes of 30–60 s.
import t, { type Test } from 'tap';
import { getText, publishTestPattern, randomId, waitFor, type Publisher } from '../testing/harness.js';
import { commandLines, fileSize, listDestinations, publishConnection, watchPlaylist, type DestinationView } from '../testing/relay-checks.js';
import { probeRecording, startRtmpDestination, type RtmpDestination } from '../testing/rtmp-destination.js';
import { startStack } from '../testing/stack.js';
import { joinedSession, type WsClient } from '../testing/ws.js';

const stack = await startStack(t, { workers: 1, extraEnv: { RELAY_ALLOW_PRIVATE: 'true' } });
const wsUrl = `ws://127.0.0.1:${stack.apiPort}/ws`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every secret of the file (ingest keys, destination keys): none may show up in a log, an answer or a frame. */
const secrets: string[] = [];
const answers: string[] = [];
const sockets: WsClient[] = [];
const newKey = () => {
  const k = `relay-key-${randomId(8)}`;
  secrets.push(k);
  return k;
};

async function call(method: string, p: string, body?: unknown, token = stack.token) {
  const r = await stack.api(method, p, body, token);
  answers.push(JSON.stringify(r.body));
  return r;
}


async function newStream(title: string) {
  const s = await stack.createStream(title);
  secrets.push(s.streamKey);
  return s;
}

async function addDestination(streamId: string, o: { name: string; dest: RtmpDestination; key: string; enabled?: boolean }): Promise<DestinationView> {
  const r = await call('POST', `/streams/${streamId}/destinations`, { name: o.name, url: `rtmp://127.0.0.1:${o.dest.port}/live`, streamKey: o.key, enabled: o.enabled ?? true });
  if (r.status !== 201) throw new Error(`add destination → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function destination(streamId: string, id: string): Promise<DestinationView> {
  const d = (await listDestinations((p) => call('GET', p), streamId)).get(id);
  if (!d) throw new Error(`destination ${id} is not listed`);
  return d;
}

/** Polls the destination's status until `ok`; answers the matching view and how long it took. */
async function until(streamId: string, id: string, ok: (d: DestinationView) => boolean, o: { what: string; timeoutMs: number }) {
  const started = Date.now();
  let last: DestinationView | undefined;
  const d = await waitFor(
    async () => {
      last = await destination(streamId, id);
      return ok(last) ? last : null;
    },
    { what: o.what, timeoutMs: o.timeoutMs, intervalMs: 250 },
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen ${JSON.stringify(last ?? null)}`);
  });
  return { d, ms: Date.now() - started };
}

const liveAndCounting = (d: DestinationView) => d.status === 'live' && d.bytesSent > 0 && (d.bitrateKbps ?? 0) > 0 && d.connectedAt !== null;

/** A publisher at the ingest, and the HLS ladder it feeds live. */
async function goLive(t: Test, s: { id: string; streamKey: string; playbackId: string }, o: { width: number; height: number; seconds: number }): Promise<Publisher> {
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: o.width, height: o.height, fps: 10, seconds: o.seconds, videoKbps: 500 });
  await stack.waitForMaster(s.playbackId, 40_000);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the stream to be live', timeoutMs: 20_000 });
  return pub;
}

async function mediaPlaylistUrl(playbackId: string): Promise<string> {
  const master = (await getText(`${stack.base}/hls/${playbackId}/master.m3u8`)).text;
  const variant = master.split('\n').find((l) => l.endsWith('.m3u8'));
  if (!variant) throw new Error(`no variant in the master playlist: ${master}`);
  return `${stack.base}/hls/${playbackId}/${variant}`;
}

/** How often the worker started ffmpeg for the stream, by its publish log and by its own log. */
async function ffmpegStarts(streamId: string) {
  const r = await call('GET', `/streams/${streamId}/sessions`);
  const workerLog = stack.roles.filter((x) => x.name.startsWith('worker')).map((x) => x.output()).join('\n');
  // a first run says "Starting ffmpeg", every later run of the same publish "Resuming the stream's playlists"
  const logged = workerLog.split('\n').filter((l) => l.includes(streamId) && /Starting ffmpeg for the stream|Resuming the stream/.test(l)).length;
  return { transcodeStarts: r.body.items[0]?.transcodeStarts as number, logged };
}

/** Staff, a speaker of the session and an attendee, all in the session room of a live session on the stream. */
async function roomOf(streamId: string, title: string) {
  const { session } = await stack.liveSessionOn(streamId, title);
  const speaker = await stack.user('Speaker', 'speaker');
  const attendee = await stack.user('Attendee');
  const put = await call('PUT', `/sessions/${session.id}`, { speakerIds: [speaker.id] });
  if (put.status !== 200) throw new Error(`speakers → ${put.status} ${JSON.stringify(put.body)}`);
  const [staffWs, speakerWs, attendeeWs] = await Promise.all([stack.token, speaker.token, attendee.token].map((tok) => joinedSession(wsUrl, tok, session.id)));
  sockets.push(staffWs!, speakerWs!, attendeeWs!);
  return { session, staffWs: staffWs!, speakerWs: speakerWs!, attendeeWs: attendeeWs! };
}
t.teardown(() => sockets.forEach((w) => w.close()));

t.test('a publish reaches both destinations as published (codec copy), both go live with counts, end idle, and their recordings decode at the source’s size and length; relay:status of the real transitions reaches staff and the speaker, never the attendee', async (t) => {
  const SECONDS = 30;
  const s = await newStream('relay to two');
  const [keyA, keyB] = [newKey(), newKey()];
  const destA = await startRtmpDestination(t, { acceptKey: keyA });
  const destB = await startRtmpDestination(t);
  const a = await addDestination(s.id, { name: 'Alpha', dest: destA, key: keyA });
  const b = await addDestination(s.id, { name: 'Beta', dest: destB, key: keyB });
  const room = await roomOf(s.id, 'Relayed keynote');

  // 640x400 is no rung of the ladder (its one rung is 360p): what the destinations get is the source itself
  const pub = await goLive(t, s, { width: 640, height: 400, seconds: SECONDS });
  for (const d of [a, b]) {
    const { d: live } = await until(s.id, d.id, liveAndCounting, { what: `${d.name} live with bytes, bitrate and connectedAt`, timeoutMs: 30_000 });
    t.pass(`${d.name}: live, ${live.bytesSent} bytes, ${live.bitrateKbps} kbps, since ${live.connectedAt}`);
    t.equal(live.lastError, null, `${d.name}: no error`);
  }
  t.same(destA.publishNames, [keyA], 'the destination was asked about the key we stored (decrypted right), once');

  await pub.exited; // the source ends on its own after SECONDS
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'the stream to end', timeoutMs: 20_000 });
  for (const d of [a, b]) {
    const { d: idle } = await until(s.id, d.id, (x) => x.status === 'idle', { what: `${d.name} idle after the publish`, timeoutMs: 20_000 });
    t.ok(!idle.bitrateKbps, `${d.name}: bitrate 0 once idle (${idle.bitrateKbps})`);
    t.ok(idle.bytesSent > 100_000, `${d.name}: the bytes sent are kept (${idle.bytesSent})`);
  }

  const master = (await getText(`${stack.base}/hls/${s.playbackId}/master.m3u8`)).text;
  for (const [dest, key] of [[destA, keyA], [destB, keyB]] as const) {
    await waitFor(() => publishConnection(dest, key).disconnected, { what: 'the destination to see the relay leave', timeoutMs: 10_000 });
    const rec = await probeRecording(dest.recording(key));
    t.same([rec.width, rec.height], [640, 400], 'recorded at the source’s size');
    t.ok(rec.decodedOk, 'the recording decodes without an error');
    // the relay starts with the transcode (after the ingest's probe), so the first seconds may be missing
    t.ok(rec.seconds > SECONDS - 15 && rec.seconds < SECONDS + 3, `recorded ${rec.seconds} s of a ${SECONDS} s publish`);
  }
  t.notMatch(master, /RESOLUTION=640x400/, 'and the ladder has no rendition of that size (so it is not a rung)');

  // relay:status, from the real relay: each destination went live and then idle
  for (const [who, ws] of [['staff', room.staffWs], ['speaker', room.speakerWs]] as const) {
    for (const d of [a, b]) {
      const live = await ws.next((f) => f.type === 'relay:status' && f.destinationId === d.id && f.status === 'live', { timeoutMs: 10_000 });
      t.same(live, { type: 'relay:status', sessionId: room.session.id, streamId: s.id, destinationId: d.id, name: d.name, status: 'live', lastError: null }, `${who}: ${d.name} live`);
      await ws.next((f) => f.type === 'relay:status' && f.destinationId === d.id && f.status === 'idle', { from: ws.frames.indexOf(live), timeoutMs: 10_000 });
      t.pass(`${who}: ${d.name} idle after it`);
    }
  }
  // a chat message sent now reaches everyone after every relay:status above
  const ack = await room.staffWs.request({ type: 'chat:send', sessionId: room.session.id, text: 'after the relay statuses' });
  t.equal(ack.type, 'ack', JSON.stringify(ack));
  await room.attendeeWs.next((f) => f.type === 'chat:message' && f.message.text === 'after the relay statuses', { timeoutMs: 10_000 });
  t.notOk(room.attendeeWs.frames.some((f) => f.type === 'relay:status'), 'the attendee in the same room never got a relay:status');
});

t.test('a destination killed mid-stream and restarted on its port: retrying in words, live again within ~15 s; the other destination and the HLS output never miss a beat', async (t) => {
  const s = await newStream('relay drill');
  const [keyA, keyB] = [newKey(), newKey()];
  const destA = await startRtmpDestination(t);
  const destB = await startRtmpDestination(t);
  const a = await addDestination(s.id, { name: 'Victim', dest: destA, key: keyA });
  const b = await addDestination(s.id, { name: 'Bystander', dest: destB, key: keyB });
  const pub = await goLive(t, s, { width: 640, height: 360, seconds: 120 });
  const aBefore = (await until(s.id, a.id, liveAndCounting, { what: 'the victim live', timeoutMs: 30_000 })).d;
  const bBefore = (await until(s.id, b.id, liveAndCounting, { what: 'the bystander live', timeoutMs: 30_000 })).d;
  const playlist = watchPlaylist(await mediaPlaylistUrl(s.playbackId));

  await destA.stop(); // nginx gone: the relay's connection breaks, and nothing listens on its port
  const { d: retrying } = await until(s.id, a.id, (d) => d.status === 'retrying' && d.retries >= 1, { what: 'the victim retrying', timeoutMs: 20_000 });
  t.match(retrying.lastError, /destination/i, `the last error in words: ${retrying.lastError}`);
  t.notOk(retrying.lastError!.includes(keyA), 'without the key');

  // down for ~8 s more: the bystander stays live and its recording keeps growing the whole time
  const bRecording = destB.recording(keyB);
  const sizes: number[] = [];
  for (let i = 0; i < 8; i++) {
    sizes.push(fileSize(bRecording));
    t.equal((await destination(s.id, b.id)).status, 'live', `bystander live while the victim is down (${i + 1} s)`);
    await sleep(1_000);
  }
  // sampled every second; a noisy machine may hold a write back a moment, never two seconds
  t.ok(sizes.every((n, i) => i < 2 || n > sizes[i - 2]!), `the bystander’s recording kept growing (${sizes.join(' → ')})`);
  const down = await destination(s.id, a.id);
  t.match(down.status, /^(retrying|connecting)$/, `still trying (${down.status}, ${down.retries} retries)`);
  t.ok(down.retries >= 2, `it kept retrying while down (${down.retries})`);

  await destA.restart();
  const { d: back, ms } = await until(s.id, a.id, (d) => d.status === 'live', { what: 'the victim live again', timeoutMs: 30_000 });
  t.ok(ms < 25_000, `live again ${ms} ms after its restart (~15 s promised, capped backoff 10 s)`);
  t.ok(back.connectedAt !== null && new Date(back.connectedAt).getTime() > new Date(aBefore.connectedAt!).getTime(), `connected anew (${aBefore.connectedAt} → ${back.connectedAt})`);
  const aRecording = destA.recording(keyA);
  const grown = fileSize(aRecording);
  await sleep(3_000);
  t.ok(fileSize(aRecording) > grown, 'the restarted destination receives again');

  const bAfter = await until(s.id, b.id, (d) => d.status === 'live' && d.bytesSent > bBefore.bytesSent, { what: 'the bystander’s count to move on', timeoutMs: 15_000 });
  t.equal(bAfter.d.connectedAt, bBefore.connectedAt, 'the bystander kept its one connection');
  t.equal(bAfter.d.retries, bBefore.retries, 'and never retried');

  const hls = await playlist.stop();
  t.ok(hls.segments >= 10, `the HLS output went on (${hls.segments} segments seen)`);
  t.same(hls.missing, [], 'no media sequence number skipped');
  t.same(hls.problems, [], 'no discontinuity, no end, no error');
  t.ok(hls.longestStallMs < 10_000, `no stall (longest wait for a new segment ${hls.longestStallMs} ms)`);
  t.same(await ffmpegStarts(s.id), { transcodeStarts: 1, logged: 1 }, 'one ffmpeg the whole time');
  await pub.stop();
});

t.test('a destination refusing the key: retrying with an error that says so; no key in any log, answer or frame', async (t) => {
  const s = await newStream('relay refused');
  const key = newKey();
  const dest = await startRtmpDestination(t, { acceptKey: `someone-else-${randomId(4)}` });
  const d = await addDestination(s.id, { name: 'Refuser', dest, key });
  const room = await roomOf(s.id, 'Refused relay');
  const pub = await goLive(t, s, { width: 640, height: 360, seconds: 120 });

  const { d: refused } = await until(s.id, d.id, (x) => x.status === 'retrying' && x.retries >= 1 && x.lastError !== null, { what: 'the relay retrying', timeoutMs: 30_000 });
  t.match(refused.lastError, /refused the stream|is the stream key right/, `a useful last error: ${refused.lastError}`);
  t.ok(dest.publishNames.includes(key), 'the destination was asked about our key, and said no');
  const later = await until(s.id, d.id, (x) => x.retries >= 3, { what: 'more retries', timeoutMs: 30_000 });
  t.match(later.d.status, /^(retrying|connecting)$/, `it keeps trying while the stream is live (${later.d.retries} retries)`);
  const frame = await room.staffWs.next((f) => f.type === 'relay:status' && f.destinationId === d.id && f.status === 'retrying', { timeoutMs: 10_000 });
  t.match(frame.lastError, /refused the stream|is the stream key right/, 'staff are told why over /ws');
  t.equal(await stack.streamStatus(s.id), 'live', 'the stream itself is untouched');
  // /proc/<pid>/cmdline is world-readable: the worker's ffmpeg (running now) must not hold the key
  const cmdlines = commandLines();
  t.ok(cmdlines.some((c) => c.includes('ffmpeg') && c.includes(s.playbackId)), 'the worker’s ffmpeg is among the command lines read');
  t.notOk(cmdlines.some((c) => c.includes(key)), 'no process’s command line holds the destination’s key');

  await pub.stop();
  await until(s.id, d.id, (x) => x.status === 'idle', { what: 'idle once the publish ended', timeoutMs: 20_000 });
  const metrics = await (await fetch(`http://127.0.0.1:${stack.apiPort}/metrics`, { headers: { authorization: `Bearer ${stack.env.INTERNAL_API_KEY}` } })).text();
  const logs = stack.allLogs();
  t.ok(logs.includes(s.id), 'the logs do talk about this stream (so the check below reads real lines)');
  const frames = sockets.map((w) => JSON.stringify(w.frames)).join('\n');
  for (const k of [key, s.streamKey]) {
    t.notOk(logs.includes(k), `…${k.slice(-4)}: in no log`);
    t.notOk(answers.some((x) => x.includes(k)), `…${k.slice(-4)}: in no API answer`);
    t.notOk(frames.includes(k), `…${k.slice(-4)}: in no WS frame`);
    t.notOk(metrics.includes(k), `…${k.slice(-4)}: not in /metrics`);
  }
});

t.test('destinations changed while live: an added one is live within seconds, a disabled one goes idle and leaves its server; ffmpeg, the HLS output and the other destination untouched', async (t) => {
  const s = await newStream('relay changes');
  const [keyA, keyB] = [newKey(), newKey()];
  const destA = await startRtmpDestination(t);
  const destB = await startRtmpDestination(t);
  const a = await addDestination(s.id, { name: 'First', dest: destA, key: keyA });
  const pub = await goLive(t, s, { width: 640, height: 360, seconds: 120 });
  const aLive = (await until(s.id, a.id, liveAndCounting, { what: 'the first destination live', timeoutMs: 30_000 })).d;
  const playlist = watchPlaylist(await mediaPlaylistUrl(s.playbackId));
  await sleep(4_000); // some segments before the changes

  const b = await addDestination(s.id, { name: 'Added live', dest: destB, key: keyB });
  const added = await until(s.id, b.id, (d) => d.status === 'live', { what: 'the added destination live', timeoutMs: 20_000 });
  t.ok(added.ms < 12_000, `added while live: live after ${added.ms} ms`);
  await waitFor(() => fileSize(destB.recording(keyB)) > 50_000, { what: 'the added destination to receive', timeoutMs: 10_000 });
  t.pass('the added destination receives');

  const off = await call('PATCH', `/streams/${s.id}/destinations/${a.id}`, { enabled: false });
  t.equal(off.status, 200, 'disabled');
  const disabled = await until(s.id, a.id, (d) => d.status === 'idle', { what: 'the disabled destination idle', timeoutMs: 20_000 });
  t.ok(disabled.ms < 12_000, `disabled while live: idle after ${disabled.ms} ms`);
  await waitFor(() => publishConnection(destA, keyA).disconnected, { what: 'the disabled destination’s server to see the relay leave', timeoutMs: 10_000 });
  t.pass('nginx-rtmp saw the publisher leave');
  const stopped = fileSize(destA.recording(keyA));
  await sleep(3_000);
  t.equal(fileSize(destA.recording(keyA)), stopped, 'and receives nothing more');
  t.equal((await destination(s.id, b.id)).status, 'live', 'the other destination is still live');

  // enabled again: back within seconds, a new connection
  t.equal((await call('PATCH', `/streams/${s.id}/destinations/${a.id}`, { enabled: true })).status, 200, 'enabled again');
  const again = await until(s.id, a.id, (d) => d.status === 'live' && d.connectedAt !== aLive.connectedAt, { what: 'the re-enabled destination live', timeoutMs: 20_000 });
  t.ok(again.ms < 12_000, `re-enabled: live after ${again.ms} ms`);
  // the HLS output watched for a while after the last change too
  await waitFor(() => playlist.segments() >= 10, { what: 'ten segments watched', timeoutMs: 40_000 });
  const bNow = await destination(s.id, b.id);
  t.same([bNow.status, bNow.connectedAt, bNow.retries], ['live', added.d.connectedAt, 0], 'the added destination kept its one connection throughout');

  const hls = await playlist.stop();
  t.ok(hls.segments >= 10, `the HLS output went on (${hls.segments} segments seen)`);
  t.same(hls.missing, [], 'no media sequence number skipped');
  t.same(hls.problems, [], 'no discontinuity, no end, no error');
  t.ok(hls.longestStallMs < 10_000, `no stall (longest wait for a new segment ${hls.longestStallMs} ms)`);
  t.same(await ffmpegStarts(s.id), { transcodeStarts: 1, logged: 1 }, 'the changes never restarted ffmpeg');
  await pub.stop();
});

t.test('no secret of this file is in any log, API answer or WS frame', async (t) => {
  const logs = stack.allLogs();
  const frames = sockets.map((w) => JSON.stringify(w.frames)).join('\n');
  t.ok(secrets.length >= 10, `${secrets.length} secrets`);
  for (const k of secrets) {
    t.notOk(logs.includes(k), `…${k.slice(-4)}: in no log`);
    t.notOk(answers.some((x) => x.includes(k)), `…${k.slice(-4)}: in no API answer`);
    t.notOk(frames.includes(k), `…${k.slice(-4)}: in no WS frame`);
  }
});
