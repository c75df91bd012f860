// Each role's /metrics over a real stack: the key is required, the named series are there, and
// their values move with a real publish, a WebSocket and REST calls. No key or id ever leaks.
import t from 'tap';
import { freePort } from './local/processes.js';
import { publishTestPattern, waitFor } from './testing/harness.js';
import { startRtmpDestination } from './testing/rtmp-destination.js';
import { startStack } from './testing/stack.js';
import { connectWs } from './testing/ws.js';

const [ingestPort, workerPort] = [await freePort(), await freePort()];
// extraEnv reaches every role; the api serves /metrics on PORT and ignores METRICS_PORT; the
// relay test's destination is on 127.0.0.1 (RELAY_ALLOW_PRIVATE)
const stack = await startStack(t, { extraEnv: { METRICS_PORT: String(ingestPort), RELAY_ALLOW_PRIVATE: 'true' }, workerEnv: { METRICS_PORT: String(workerPort) } });
const key = stack.env.INTERNAL_API_KEY!;
const urls = {
  api: `http://127.0.0.1:${stack.apiPort}/metrics`,
  ingest: `http://127.0.0.1:${ingestPort}/metrics`,
  worker: `http://127.0.0.1:${workerPort}/metrics`,
};
type Role = keyof typeof urls;

async function scrape(role: Role): Promise<string> {
  const r = await fetch(urls[role], { headers: { authorization: `Bearer ${key}` } });
  if (r.status !== 200) throw new Error(`${role} /metrics: ${r.status}`);
  return r.text();
}

/** Sum of a series' samples whose labels include every given label. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | null {
  let sum: number | null = null;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const set = m[2] ?? '';
    if (!Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) continue;
    sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

const at = async (role: Role, name: string, labels?: Record<string, string>) => value(await scrape(role), name, labels);

t.test('every role answers only with the internal key; nginx does not expose /metrics', async (t) => {
  for (const role of Object.keys(urls) as Role[]) {
    t.equal((await fetch(urls[role])).status, 401, `${role}: 401 without a key`);
    t.equal((await fetch(urls[role], { headers: { authorization: 'Bearer wrong-key-wrong-key' } })).status, 401, `${role}: 401 with a wrong key`);
    const text = await scrape(role);
    t.match(text, /onair_process_cpu_seconds_total\{role="\w+"\}/, `${role}: process metrics`);
    t.match(text, /onair_nodejs_eventloop_lag_seconds/, `${role}: event loop lag`);
  }
  t.not((await fetch(`${stack.base}/metrics`, { headers: { authorization: `Bearer ${key}` } })).status, 200, 'not served through nginx');
});

t.test('REST latency by route template and status; WebSocket connections and frames', async (t) => {
  const route = { method: 'GET', route: '/streams/:id', status: '200' };
  const before = (await at('api', 'onair_http_request_duration_seconds_count', route)) ?? 0;
  const s = await stack.createStream('metrics-rest');
  await stack.streamStatus(s.id);
  await stack.streamStatus(s.id);
  const text = await scrape('api');
  t.equal(value(text, 'onair_http_request_duration_seconds_count', route), before + 2, 'GET /streams/:id counted by its template');
  t.ok((value(text, 'onair_http_request_duration_seconds_count', { method: 'POST', route: '/streams', status: '201' }) ?? 0) >= 1, 'POST /streams 201');
  t.notOk(text.includes(s.id), 'the stream id is no label');

  t.equal(value(text, 'onair_ws_connections'), 0, 'no WebSocket yet');
  const ws = await connectWs(`ws://127.0.0.1:${stack.apiPort}/ws`, { token: stack.token });
  const framesIn = value(text, 'onair_ws_frames_received_total') ?? 0;
  const framesOut = value(text, 'onair_ws_frames_sent_total') ?? 0;
  const answer = await ws.request({ type: 'event:join', eventId: '00000000-0000-4000-8000-000000000000' });
  t.equal(answer.type, 'error');
  const during = await scrape('api');
  t.equal(value(during, 'onair_ws_connections'), 1, 'the connection shows in the gauge');
  t.ok(value(during, 'onair_ws_frames_received_total')! > framesIn, 'frames in move');
  t.ok(value(during, 'onair_ws_frames_sent_total')! > framesOut, 'frames out move');
  t.equal(value(during, 'onair_ws_slow_clients_dropped_total'), 0);
  ws.close();
  await waitFor(async () => (await at('api', 'onair_ws_connections')) === 0, { what: 'the gauge to drop' });
});

t.test('ingest, transcode and HLS series move with a real publish; no key or id leaks', async (t) => {
  const beforeIngest = await scrape('ingest');
  const beforeWorker = await scrape('worker');
  t.equal(value(beforeIngest, 'onair_ingest_publishers'), 0, 'no publisher yet');
  const bytes0 = value(beforeIngest, 'onair_ingest_received_bytes_total') ?? 0;
  t.equal(value(beforeWorker, 'onair_transcode_active_jobs') ?? 0, 0, 'no job yet');
  t.equal(value(beforeWorker, 'onair_hls_segments_written_total') ?? 0, 0, 'no segment yet');
  t.equal(value(beforeWorker, 'onair_ingest_publishes_refused_total'), null, 'ingest series are not on the worker');

  const s = await stack.createStream('metrics-publish');
  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 90, videoKbps: 600 });
  await stack.waitForMaster(s.playbackId);

  const ingest = await waitFor(async () => {
    const text = await scrape('ingest');
    return value(text, 'onair_ingest_publishers') === 1 && (value(text, 'onair_ingest_received_bytes_total') ?? 0) > bytes0 ? text : null;
  }, { what: 'the ingest metrics to show the publisher' });
  t.equal(value(ingest, 'onair_ingest_publishers'), 1, 'publishers 0 → 1');
  t.ok(value(ingest, 'onair_ingest_received_bytes_total')! > bytes0 + 10_000, 'bytes in grow');
  t.ok(value(ingest, 'onair_ingest_publishes_accepted_total')! >= 1);

  const worker = await waitFor(async () => {
    const text = await scrape('worker');
    return (value(text, 'onair_hls_segments_written_total') ?? 0) > 0 && value(text, 'onair_ffmpeg_speed_ratio') !== null ? text : null;
  }, { what: 'segments and ffmpeg progress in the worker metrics', timeoutMs: 30_000 });
  t.equal(value(worker, 'onair_transcode_active_jobs', { profile: 'default' }), 1, 'one active job, labelled by profile');
  t.ok(value(worker, 'onair_hls_first_segment_seconds_count', { profile: 'default' })! >= 1, 'first-segment latency observed');
  t.ok(value(worker, 'onair_hls_first_segment_seconds_sum')! > 0);
  t.ok(value(worker, 'onair_transcode_queue_wait_seconds_count')! >= 1, 'queue wait observed');
  t.ok(value(worker, 'onair_ffmpeg_speed_ratio', { profile: 'default' })! > 0, 'ffmpeg speed');
  t.ok(value(worker, 'onair_ffmpeg_fps', { profile: 'default' }) !== null, 'ffmpeg fps');
  t.equal(value(worker, 'onair_transcode_queue_jobs', { state: 'active' }), 1, 'queue depth read from the queue');
  t.match(worker, /onair_hls_segments_written_total\{rendition="\d+p",role="worker"\}/, 'segments labelled by rendition');
  t.equal(value(worker, 'onair_transcode_restarts_total') ?? 0, 0);

  const segments = value(worker, 'onair_hls_segments_written_total')!;
  await waitFor(async () => (await at('worker', 'onair_hls_segments_written_total'))! > segments, { what: 'more segments', timeoutMs: 15_000 });
  t.pass('segments written keep growing');

  const { rows } = await stack.db.query<{ id: string }>(`SELECT id FROM publish_sessions WHERE stream_id = $1`, [s.id]);
  t.ok(rows.length >= 1);
  const all = [await scrape('api'), await scrape('ingest'), await scrape('worker')].join('\n');
  for (const [what, secret] of [['stream key', s.streamKey], ['stream id', s.id], ['playback id', s.playbackId], ...rows.map((r) => ['publish session id', r.id])]) {
    t.notOk(all.includes(secret!), `no ${what} in any /metrics`);
  }

  await pub.stop();
  await waitFor(async () => (await at('ingest', 'onair_ingest_publishers')) === 0, { what: 'publishers back to 0', timeoutMs: 15_000 });
  await waitFor(async () => ((await at('worker', 'onair_transcode_active_jobs')) ?? 0) === 0, { what: 'active jobs back to 0', timeoutMs: 30_000 });
  t.equal(await at('worker', 'onair_ffmpeg_speed_ratio'), null, 'a stopped ffmpeg leaves the speed gauge');
});

t.test('refused publishes are counted by reason', async (t) => {
  const before = (await at('ingest', 'onair_ingest_publishes_refused_total', { reason: 'unknown_key' }))!;
  t.equal(typeof before, 'number', 'the reason shows before any refusal');
  publishTestPattern(t, { url: stack.rtmpUrl('live_not-a-real-key-000000000000'), width: 320, height: 240, fps: 10, seconds: 5 });
  await waitFor(async () => (await at('ingest', 'onair_ingest_publishes_refused_total', { reason: 'unknown_key' }))! > before, { what: 'the refusal to be counted', timeoutMs: 15_000 });
  t.pass('unknown_key counted');
});

t.test('relay series move with a real relay: the worker counts bytes and connects, the api shows the destination live, then idle', async (t) => {
  const dest = await startRtmpDestination(t);
  const s = await stack.createStream('metrics-relay');
  const key = 'metrics-relay-key-0123';
  const added = await stack.api('POST', `/streams/${s.id}/destinations`, { name: 'Local', url: `rtmp://127.0.0.1:${dest.port}/live`, streamKey: key }, stack.token);
  t.equal(added.status, 201, JSON.stringify(added.body));
  const d = added.body as { id: string };
  const statusLine = (status: string) => `onair_relay_destination_status{destination="${d.id}",stream="${s.id}",status="${status}",role="api"} 1`;
  t.ok((await scrape('api')).includes(statusLine('idle')), 'idle before the publish');
  const before = await scrape('worker');
  const bytes0 = value(before, 'onair_relay_sent_bytes_total')!;
  const live0 = value(before, 'onair_relay_connects_total', { outcome: 'live' })!;
  t.equal(typeof bytes0, 'number', 'the worker shows the counter before any relay');

  const pub = publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 640, height: 360, fps: 10, seconds: 90, videoKbps: 600 });
  await stack.waitForMaster(s.playbackId);
  const worker = await waitFor(async () => {
    const text = await scrape('worker');
    return (value(text, 'onair_relay_sent_bytes_total') ?? 0) > bytes0 + 50_000 && (value(text, 'onair_relay_connects_total', { outcome: 'live' }) ?? 0) > live0 ? text : null;
  }, { what: 'the worker to count relayed bytes and a live connect', timeoutMs: 30_000 });
  t.equal(value(worker, 'onair_relay_keyframe_drops_total'), 0, 'a fast destination: no drops');
  const api = await waitFor(async () => {
    const text = await scrape('api');
    return text.includes(statusLine('live')) && (value(text, 'onair_relay_destination_sent_bytes_total', { destination: d.id }) ?? 0) > 0 && (value(text, 'onair_relay_destination_bitrate_kbps', { destination: d.id }) ?? 0) > 0 ? text : null;
  }, { what: 'the api to show the destination live with bytes and a bitrate', timeoutMs: 30_000 });
  t.pass('the destination shows live, with bytes sent and a bitrate');
  t.equal(value(api, 'onair_relay_destination_retries_total', { destination: d.id }), 0);
  t.notOk([api, worker].join('\n').includes(key), 'no destination key in /metrics');

  await pub.stop();
  await waitFor(async () => (await scrape('api')).includes(statusLine('idle')), { what: 'the destination idle after the publish', timeoutMs: 45_000 });
  t.pass('idle again once the publish ended');
});
