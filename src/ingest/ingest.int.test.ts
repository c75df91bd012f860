// The RTMP edge against a real ingest process: refusals, limits, malformed input, key rotation.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { getText, publishTestPattern, run, testEnv, waitFor } from '../testing/harness.js';
import { chunked, command, connectRaw, publishCommands, setChunkSize } from '../testing/rtmp-client.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t, { workers: 1 });
const redis = new Redis(testEnv().redisUrl);
t.teardown(() => redis.disconnect());
const prefix = stack.env.REDIS_PREFIX!;
const keys: string[] = [];
const ingest = stack.roles.find((r) => r.name === 'ingest')!;

async function jobCount(): Promise<number> {
  return (await redis.keys(`${prefix}:transcode:live-*`)).filter((k) => !k.includes(':lock') && !k.includes(':logs')).length;
}

function mediaEntries(): string[] {
  const dir = path.join(stack.mediaDir, 'hls');
  return existsSync(dir) ? readdirSync(dir) : [];
}

async function rawPublish(name: string, app = 'live') {
  const c = await connectRaw(stack.rtmpPort);
  await c.handshake();
  const sentAt = Date.now();
  c.send(publishCommands({ app, name }));
  return { c, sentAt };
}

t.test('an unknown key is refused within 1 s, with no job and no media dir', async (t) => {
  const jobsBefore = await jobCount();
  const mediaBefore = mediaEntries().length;
  const { c, sentAt } = await rawPublish('live_thisKeyDoesNotExist_0123456789abcdef');
  const closedAt = await c.closed;
  t.ok(closedAt - sentAt < 1_000, `closed after ${closedAt - sentAt} ms`);
  t.equal(await jobCount(), jobsBefore, 'no job');
  t.equal(mediaEntries().length, mediaBefore, 'no media dir');
  // the refusal's log line may reach us a moment after the socket closed
  await waitFor(() => /Refused a publisher: The stream key is not valid/.test(ingest.output()), { what: 'the refusal logged', timeoutMs: 5_000 });
});

t.test('a publish to another app is refused, and the key it named is not logged', async (t) => {
  const s = await stack.createStream('wrong-app');
  keys.push(s.streamKey);
  const { c, sentAt } = await rawPublish(s.streamKey, 'Live');
  t.ok((await c.closed) - sentAt < 1_000);
  const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM publish_sessions WHERE stream_id = $1', [s.id]);
  t.equal(rows[0].n, 0);
});

t.test('a disabled stream is refused', async (t) => {
  const s = await stack.createStream('disabled');
  keys.push(s.streamKey);
  await stack.db.query('UPDATE streams SET enabled = false WHERE id = $1', [s.id]);
  const { c, sentAt } = await rawPublish(s.streamKey);
  t.ok((await c.closed) - sentAt < 1_000);
  t.notOk(existsSync(path.join(stack.mediaDir, 'hls', s.playbackId)), 'no media dir');
  const { rows } = await stack.db.query('SELECT count(*)::int AS n FROM publish_sessions WHERE stream_id = $1', [s.id]);
  t.equal(rows[0].n, 0, 'no publish session');
});

t.test('an unsupported codec is refused, and the broadcaster is told why in the session log', async (t) => {
  const s = await stack.createStream('sorenson');
  keys.push(s.streamKey);
  const jobsBefore = await jobCount();
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 320, height: 240, fps: 10, seconds: 20, videoCodec: 'flv1' });
  await pub.exited;
  const sessions = await waitFor(async () => {
    const r = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
    return r.body.items[0]?.endReason ? r.body.items : null;
  }, { what: 'the refused session' });
  t.equal(sessions[0].endReason, 'unsupported_codec');
  t.match(JSON.stringify(sessions[0].log), /Video codec SORENSON is not supported: set the encoder to H\.264/);
  t.equal(await jobCount(), jobsBefore, 'no job');
  t.notOk(existsSync(path.join(stack.mediaDir, 'hls', s.playbackId)), 'no media dir');
  const stream = await stack.api('GET', `/streams/${s.id}`, undefined, stack.token);
  t.equal(stream.body.status, 'offline');
  t.match(stream.body.statusReason, /not supported/);
});

t.test('while one stream publishes: malformed RTMP input ends only its own connection', async (t) => {
  const s = await stack.createStream('survivor');
  keys.push(s.streamKey);
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 600 });
  const playlist = `${stack.base}/hls/${s.playbackId}/360p/index.m3u8`;
  await stack.waitForMaster(s.playbackId);

  const attacks: [string, (c: Awaited<ReturnType<typeof connectRaw>>) => Promise<void> | void][] = [
    ['connect without tcUrl', (c) => c.send(publishCommands({ app: 'live', name: 'x', tcUrl: null }))],
    ['garbage after the handshake', (c) => c.send(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)))],
    ['chunk size 0', (c) => c.send(Buffer.concat([setChunkSize(0), command('connect', 1, { app: 'live', tcUrl: 'rtmp://x/live' })]))],
    ['chunk size 2^31-1', (c) => c.send(setChunkSize(0x7fffffff))],
    ['a 16 MiB message before publishing', (c) => c.send(chunked({ csid: 3, typeId: 20, streamId: 0, payload: Buffer.alloc(64), declaredLength: 0xffffff }))],
    ['a hundred chunk streams', (c) => c.send(Buffer.concat(Array.from({ length: 100 }, (_, i) => chunked({ csid: 3 + (i % 60), typeId: 8, streamId: 1, payload: Buffer.alloc(10), declaredLength: 60_000 }))))],
    ['a non-string stream name', (c) => c.send(Buffer.concat([command('connect', 1, { app: 'live', tcUrl: 'rtmp://x/live' }), command('publish', 3, null, 42)]))],
  ];
  for (const [name, attack] of attacks) {
    const c = await connectRaw(stack.rtmpPort);
    await c.handshake();
    await attack(c);
    const closed = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(-1), 12_000))]);
    t.not(closed, -1, `${name}: the connection is closed`);
  }
  // garbage before any handshake, too
  const g = await connectRaw(stack.rtmpPort);
  g.send(Buffer.alloc(20_000, 0xff));
  t.not(await Promise.race([g.closed, new Promise<number>((r) => setTimeout(() => r(-1), 12_000))]), -1, 'garbage without handshake: closed');

  t.equal(ingest.child.exitCode, null, 'the ingest process is still running');
  const before = (await getText(playlist)).text.split('\n').filter((l) => l.endsWith('.ts')).pop();
  await waitFor(async () => {
    const last = (await getText(playlist)).text.split('\n').filter((l) => l.endsWith('.ts')).pop();
    return last !== before;
  }, { what: 'new segments of the surviving stream', timeoutMs: 10_000 });
  t.equal(await stack.streamStatus(s.id), 'live', 'the other stream keeps going');

  // a second publisher on the live key is refused and the first one keeps publishing
  const { c, sentAt } = await rawPublish(s.streamKey);
  t.ok((await c.closed) - sentAt < 1_000, 'second publisher refused within 1 s');
  t.equal(await stack.streamStatus(s.id), 'live');

  // only internal, signed pulls may play from the ingest
  const play = await run('ffmpeg', ['-v', 'error', '-rw_timeout', '5000000', '-i', stack.rtmpUrl(s.streamKey), '-t', '1', '-f', 'null', '-']);
  t.not(play.code, 0, 'playing /live/<key> is refused');
  const sessionId = (await stack.db.query('SELECT id FROM publish_sessions WHERE stream_id = $1 AND ended_at IS NULL', [s.id])).rows[0].id;
  const forged = await run('ffmpeg', ['-v', 'error', '-rw_timeout', '5000000', '-i', `rtmp://127.0.0.1:${stack.rtmpPort}/internal/${sessionId}?sig=forged`, '-t', '1', '-f', 'null', '-']);
  t.not(forged.code, 0, 'an unsigned internal pull is refused');
  t.equal(await stack.streamStatus(s.id), 'live');

  // regenerating the key drops the publisher; the old key no longer works
  const regen = await stack.api('POST', `/streams/${s.id}/regenerate-key`, undefined, stack.token);
  t.equal(regen.status, 200);
  t.not(regen.body.streamKey, s.streamKey);
  keys.push(regen.body.streamKey);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'the old-key publisher to be dropped', timeoutMs: 5_000 });
  const sessions = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
  t.equal(sessions.body.items[0].endReason, 'key_regenerated');
  const old = await rawPublish(s.streamKey);
  t.ok((await old.c.closed) - old.sentAt < 1_000, 'the old key is refused');
});

t.test('a publisher that goes silent for 10 s is dropped', async (t) => {
  const s = await stack.createStream('silent');
  keys.push(s.streamKey);
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 320, height: 240, fps: 10, seconds: 60, videoKbps: 300 });
  // live: media is flowing (a publisher stopped before its first video would be refused as "no video")
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the publish to go live', timeoutMs: 30_000 });
  pub.child.kill('SIGSTOP');
  const stoppedAt = Date.now();
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'the silent publisher to be dropped', timeoutMs: 15_000, intervalMs: 250 });
  const after = Date.now() - stoppedAt;
  t.ok(after >= 9_000 && after <= 13_000, `dropped after ${after} ms`);
  pub.child.kill('SIGCONT');
  const sessions = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
  t.equal(sessions.body.items[0].endReason, 'publisher_silent');
});

t.test('a publisher is dropped when its stream is disabled, even without a bus message', async (t) => {
  const s = await stack.createStream('revoked');
  keys.push(s.streamKey);
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 320, height: 240, fps: 10, seconds: 60, videoKbps: 300 });
  // live: media is flowing (a publisher stopped before its first video would be refused as "no video")
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the publish to go live', timeoutMs: 30_000 });
  await stack.db.query('UPDATE streams SET enabled = false WHERE id = $1', [s.id]);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'offline', { what: 'the publisher to be dropped', timeoutMs: 10_000, intervalMs: 250 });
  const sessions = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
  t.equal(sessions.body.items[0].endReason, 'key_revoked');
});

t.test('a keyframe interval that does not match the segment length is told to the broadcaster', async (t) => {
  const s = await stack.createStream('long-gop');
  keys.push(s.streamKey);
  // the harness's publisher sends a keyframe every 2 s; this one every 4 s
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 320, height: 240, fps: 10, seconds: 30, videoKbps: 300, gopSeconds: 4 });
  const log = await waitFor(async () => {
    const r = await stack.api('GET', `/streams/${s.id}/sessions`, undefined, stack.token);
    const text = JSON.stringify(r.body.items[0]?.log ?? []);
    return text.includes('keyframe every') ? text : null;
  }, { what: 'the keyframe advice', timeoutMs: 20_000, intervalMs: 250 });
  t.match(log, /keyframe every 4\.0 s; set its keyframe interval to 2 s/);
  await pub.stop();
});

t.test('no stream key in any log', async (t) => {
  const logs = stack.allLogs();
  for (const key of keys) t.notOk(logs.includes(key), 'key not logged');
  t.equal(ingest.child.exitCode, null, 'the ingest never crashed');
});
