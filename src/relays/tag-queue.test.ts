// The relay queue's bounds: a slow destination costs it frames (dropped up to the next key
// frame, counted), never unbounded memory; headers go out again before a restart.
import t from 'tap';
import { TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, type FlvTag } from './flv-reader.js';
import { TagQueue } from './tag-queue.js';

const video = (ts: number, key = false, size = 1000): FlvTag => ({ type: TAG_VIDEO, timestamp: ts, data: Buffer.alloc(size), keyframe: key, sequenceHeader: false });
const audio = (ts: number): FlvTag => ({ type: TAG_AUDIO, timestamp: ts, data: Buffer.alloc(100), keyframe: false, sequenceHeader: false });
const meta: FlvTag = { type: TAG_SCRIPT, timestamp: 0, data: Buffer.from('m'), keyframe: false, sequenceHeader: false };
const avc: FlvTag = { type: TAG_VIDEO, timestamp: 0, data: Buffer.from([0x17, 0]), keyframe: true, sequenceHeader: true };
const names = (ts: FlvTag[]) => ts.map((x) => (x === meta ? 'meta' : x === avc ? 'avc' : `${x.type === TAG_VIDEO ? (x.keyframe ? 'K' : 'v') : 'a'}${x.timestamp}`));

t.test('starts at a key frame with the headers first', async (t) => {
  const q = new TagQueue({ maxBytes: 1e9, maxMs: 1e9 });
  for (const x of [meta, avc, audio(0), video(10), video(40, true), audio(41), video(80)]) q.push(x);
  t.same(names(q.take(100)), ['meta', 'avc', 'K40', 'a41', 'v80']);
  t.equal(q.droppedTags, 2, 'what came before the first key frame');
  t.same(names(q.take(100)), []);
});

t.test('over its byte cap the queue drops everything and restarts at the next key frame, with headers again; counted', async (t) => {
  const q = new TagQueue({ maxBytes: 10_000, maxMs: 1e9 });
  q.push(meta);
  q.push(avc);
  q.push(video(0, true));
  t.same(names(q.take(100)), ['meta', 'avc', 'K0']);
  // the destination stops taking: 20 frames of 1000 bytes queue up
  for (let i = 1; i <= 20; i++) q.push(video(i * 40));
  t.ok(q.queuedBytes <= 10_000, `bounded (${q.queuedBytes})`);
  t.equal(q.keyframeDrops, 1);
  q.push(audio(850));
  q.push(video(880, true));
  q.push(video(920));
  t.same(names(q.take(100)), ['meta', 'avc', 'K880', 'v920']);
  t.equal(q.droppedTags, 21, 'the 11 queued at the overflow, then every frame (and the audio) up to the next key frame');
});

t.test('over its time cap likewise; an overflowing key frame is kept as the new start', async (t) => {
  const q = new TagQueue({ maxBytes: 1e9, maxMs: 1_000 });
  q.push(video(0, true));
  for (let i = 1; i < 25; i++) q.push(video(i * 40));
  t.equal(q.keyframeDrops, 0);
  q.push(video(1040, true)); // 1040 ms after the oldest queued
  t.equal(q.keyframeDrops, 1);
  t.same(names(q.take(100)), ['K1040']);
});
