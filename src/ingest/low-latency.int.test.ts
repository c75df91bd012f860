// A low-latency stream's switch and what the ingest measures of its publisher before the
// transcode is queued: the keyframe interval and B-frames, kept with the publish, carried by the
// job (the ladder plans with them), and told to the broadcaster in the publish log.
import { Redis } from 'ioredis';
import t from 'tap';
import { publishTestPattern, testEnv, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

const stack = await startStack(t, { workers: 1 });
const redis = new Redis(testEnv().redisUrl);
t.teardown(() => void redis.quit());

/** The stream's newest publish once the ingest has queued its transcode (its source is recorded). */
async function queuedPublish(streamId: string) {
  return waitFor(async () => {
    const r = await stack.api('GET', `/streams/${streamId}/sessions`, undefined, stack.token);
    const p = r.body.items[0];
    return p && JSON.stringify(p.log).includes('Transcoding queued') ? p : null;
  }, { what: 'the transcode to be queued', timeoutMs: 30_000 });
}

/** The payload of the publish's live-transcode job, as the worker gets it. */
async function jobData(publishSessionId: string) {
  // BullMQ keeps a job as the hash <prefix>:<queue>:<job id>; the job id is live-<publish session>
  const key = (await redis.keys(`*:live-${publishSessionId}`))[0];
  if (!key) throw new Error('no job');
  return JSON.parse((await redis.hget(key, 'data'))!);
}

t.test('the switch: off by default, set at creation or later, refused when not a boolean', async (t) => {
  const plain = await stack.api('POST', '/streams', { title: 'plain' }, stack.token);
  t.equal(plain.body.lowLatency, false);
  const ll = await stack.api('POST', '/streams', { title: 'fast', lowLatency: true }, stack.token);
  t.equal(ll.status, 201);
  t.equal(ll.body.lowLatency, true);
  const off = await stack.api('PATCH', `/streams/${ll.body.id}`, { lowLatency: false }, stack.token);
  t.equal(off.body.lowLatency, false);
  t.equal((await stack.api('PATCH', `/streams/${ll.body.id}`, { title: 'renamed' }, stack.token)).body.lowLatency, false, 'another change leaves it');
  const bad = await stack.api('POST', '/streams', { title: 'x', lowLatency: 'yes' }, stack.token);
  t.equal(bad.status, 400);
  t.match(JSON.stringify(bad.body), /lowLatency must be true or false/);
});

t.test('a low-latency publish with a 1 s GOP and B-frames: measured, carried by the job, and the broadcaster told to drop the B-frames', async (t) => {
  const s = (await stack.api('POST', '/streams', { title: 'll b-frames', lowLatency: true }, stack.token)).body;
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 25, seconds: 30, videoKbps: 600, gopSeconds: 1, bFrames: 2 });
  const p = await queuedPublish(s.id);
  t.equal(p.lowLatency, true, 'the publish runs in low-latency mode');
  t.match(p.source, { keyframeIntervalSeconds: 1, bFrames: true });
  const log = p.log.map((l: { message: string }) => l.message).join('\n');
  t.match(log, /keyframes every 1\.0 s with B-frames, audio aac\. Transcoding queued in low-latency mode/);
  t.match(log, /Low latency: your encoder sends B-frames, which add delay in every player\. Turn them off/);
  t.notMatch(log, /Keyframe Interval/, 'a 1 s GOP needs no advice');
  const job = await jobData(p.id);
  t.match(job, { lowLatency: true, source: { keyframeIntervalSeconds: 1, bFrames: true } });
});

t.test('a low-latency publish with keyframes 4 s apart: the top rung cannot be passed through, and the broadcaster is told what to set', async (t) => {
  const s = (await stack.api('POST', '/streams', { title: 'll long gop', lowLatency: true }, stack.token)).body;
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 25, seconds: 30, videoKbps: 600, gopSeconds: 4 });
  const p = await queuedPublish(s.id);
  t.match(p.source, { keyframeIntervalSeconds: null, bFrames: false });
  const log = p.log.map((l: { message: string }) => l.message).join('\n');
  t.match(log, /keyframes more than 2\.5 s apart/);
  t.match(log, /Low latency: your encoder's keyframes are more than 2\.5 s apart, more than the 2 s low latency allows, so the top quality is re-encoded .* Set the keyframe interval to 1 s \(OBS: Settings › Output › Keyframe Interval 1 s\)/);
  const job = await jobData(p.id);
  t.match(job, { lowLatency: true, source: { keyframeIntervalSeconds: null, keyframeIntervalAtLeastSeconds: Number } });
});

t.test('a standard publish: nothing measured, nothing said about low latency', async (t) => {
  const s = await stack.createStream('standard');
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 25, seconds: 30, videoKbps: 600, gopSeconds: 1, bFrames: 2 });
  const p = await queuedPublish(s.id);
  t.equal(p.lowLatency, false);
  t.same([p.source.keyframeIntervalSeconds, p.source.bFrames], [null, null]);
  t.notMatch(JSON.stringify(p.log), /Low latency|low-latency/);
  const job = await jobData(p.id);
  t.notOk('lowLatency' in job, 'the job says nothing of it');
});
