import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createMetrics, metricsAuthorized, serveMetrics, type DestinationSample, type MetricsRole } from './metrics.js';
import { APP_ROOT } from './paths.js';

const ROLES: MetricsRole[] = ['api', 'ingest', 'worker'];
// destination and stream: a relay destination's id and its stream's, configured objects bounded by
// RELAY_MAX_DESTINATIONS per stream (see the header of metrics.ts); enabled: true or false
const BOUNDED_LABELS = new Set(['method', 'route', 'status', 'reason', 'profile', 'rendition', 'state', 'role', 'outcome', 'cap', 'le', 'enabled', 'destination', 'stream']);

/** Every sample name a registry can expose (histograms as their _bucket/_sum/_count series). */
async function sampleNames(role: MetricsRole): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of await createMetrics(role).registry.getMetricsAsJSON()) {
    names.add(m.name);
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

t.test('names follow Prometheus conventions and labels are bounded', async (t) => {
  for (const role of ROLES) {
    const { metrics, registry } = createMetrics(role, { processMetrics: false });
    t.ok(Object.keys(metrics).length > 0);
    for (const m of await registry.getMetricsAsJSON()) {
      t.match(m.name, /^onair_[a-z0-9_]+$/, `${m.name}: prefixed, snake case`);
      const type = String(m.type);
      if (type === 'counter') t.match(m.name, /_total$/, `${m.name}: a counter ends in _total`);
      else t.notMatch(m.name, /_total$/, `${m.name}: only counters end in _total`);
      if (type === 'histogram') t.match(m.name, /_seconds$/, `${m.name}: histograms here measure seconds`);
      for (const v of m.values) {
        for (const label of Object.keys(v.labels)) t.ok(BOUNDED_LABELS.has(label), `${m.name}: label ${label} is a bounded one`);
      }
    }
  }
});

t.test('each role registers its own series, in a fresh registry each time', async (t) => {
  const api = await sampleNames('api');
  const ingest = await sampleNames('ingest');
  const worker = await sampleNames('worker');
  for (const n of ['onair_http_request_duration_seconds', 'onair_ws_connections', 'onair_ws_frames_received_total', 'onair_ws_frames_sent_total', 'onair_ws_slow_clients_dropped_total', 'onair_viewer_lines_total', 'onair_viewer_datagrams_total', 'onair_analytics_rollup_duration_seconds', 'onair_relay_destinations', 'onair_relay_destination_status', 'onair_relay_destination_sent_bytes_total', 'onair_relay_destination_bitrate_kbps', 'onair_relay_destination_retries_total']) t.ok(api.has(n), `api: ${n}`);
  for (const n of ['onair_ingest_publishers', 'onair_ingest_received_bytes_total', 'onair_ingest_publishes_accepted_total', 'onair_ingest_publishes_refused_total', 'onair_ingest_connections', 'onair_ingest_paths', 'onair_ingest_pending_connections', 'onair_ingest_connections_refused_total', 'onair_ingest_pullers_dropped_total']) t.ok(ingest.has(n), `ingest: ${n}`);
  for (const n of ['onair_transcode_active_jobs', 'onair_ffmpeg_speed_ratio', 'onair_ffmpeg_fps', 'onair_transcode_restarts_total', 'onair_transcode_takeovers_total', 'onair_transcode_queue_jobs', 'onair_transcode_queue_wait_seconds', 'onair_hls_segments_written_total', 'onair_hls_first_segment_seconds', 'onair_thumbnails_written_total', 'onair_relay_sent_bytes_total', 'onair_relay_connects_total', 'onair_relay_keyframe_drops_total']) t.ok(worker.has(n), `worker: ${n}`);
  for (const names of [api, ingest, worker]) t.ok(names.has('onair_process_cpu_seconds_total'), 'process metrics, prefixed');
  t.notOk(api.has('onair_ingest_publishers'), 'no ingest series on the api');
  // two registries of the same role do not collide (no global registry)
  const a = createMetrics('ingest');
  const b = createMetrics('ingest');
  a.metrics.publishers.inc();
  t.match(await a.registry.metrics(), /onair_ingest_publishers\{role="ingest"\} 1/);
  t.match(await b.registry.metrics(), /onair_ingest_publishers\{role="ingest"\} 0/);
});

t.test('refusal reasons show at 0 before any refusal', async (t) => {
  const text = await createMetrics('ingest', { processMetrics: false }).registry.metrics();
  for (const reason of ['unknown_key', 'disabled', 'already_live', 'unsupported_codec', 'internal_error']) {
    t.match(text, new RegExp(`onair_ingest_publishes_refused_total\\{reason="${reason}",role="ingest"\\} 0`));
  }
});

t.test('ffmpeg gauges show the slowest running transcode per profile, and forget stopped ones', async (t) => {
  const { metrics, registry } = createMetrics('worker', { processMetrics: false });
  const a = {};
  const b = {};
  metrics.ffmpegReport(a, 'default', { speed: 1.2, fps: 30 });
  metrics.ffmpegReport(b, 'default', { speed: 0.9, fps: 24 });
  metrics.ffmpegReport({}, 'low', { speed: null, fps: null });
  let text = await registry.metrics();
  t.match(text, /onair_ffmpeg_speed_ratio\{profile="default",role="worker"\} 0\.9/);
  t.match(text, /onair_ffmpeg_fps\{profile="default",role="worker"\} 24/);
  t.notMatch(text, /profile="low"/, 'no progress yet: no sample');
  metrics.ffmpegForget(b);
  text = await registry.metrics();
  t.match(text, /onair_ffmpeg_speed_ratio\{profile="default",role="worker"\} 1\.2/);
  metrics.ffmpegForget(a);
  t.notMatch(await registry.metrics(), /onair_ffmpeg_speed_ratio\{/);
});

t.test('queue depth is read at scrape time; a failed read reports nothing', async (t) => {
  const { metrics, registry } = createMetrics('worker', { processMetrics: false });
  t.notMatch(await registry.metrics(), /onair_transcode_queue_jobs\{/);
  let fail = false;
  metrics.setQueueCounts(async () => {
    if (fail) throw new Error('redis away');
    return { waiting: 3, active: 2, delayed: 1, failed: 0 };
  });
  const text = await registry.metrics();
  t.match(text, /onair_transcode_queue_jobs\{state="waiting",role="worker"\} 3/);
  t.match(text, /onair_transcode_queue_jobs\{state="active",role="worker"\} 2/);
  fail = true;
  await t.resolves(registry.metrics());
});

t.test('relay destinations: counts and one series per destination, read at scrape time; deleted ones vanish; a failed read keeps the last', async (t) => {
  const { metrics, registry } = createMetrics('api', { processMetrics: false });
  t.notMatch(await registry.metrics(), /onair_relay_destination_status\{/, 'no reader: no series');
  const streamA = 'aaaaaaaa-0000-4000-8000-000000000001';
  const streamB = 'bbbbbbbb-0000-4000-8000-000000000002';
  let rows: DestinationSample[] = [
    { id: 'd0000000-0000-4000-8000-000000000001', streamId: streamA, status: 'live', enabled: true, bytesSent: 1_234_567, bitrateKbps: 4_600.5, retries: 0 },
    { id: 'd0000000-0000-4000-8000-000000000002', streamId: streamA, status: 'retrying', enabled: true, bytesSent: 10, bitrateKbps: null, retries: 3 },
    { id: 'd0000000-0000-4000-8000-000000000003', streamId: streamB, status: 'idle', enabled: false, bytesSent: 0, bitrateKbps: null, retries: 0 },
  ];
  let reads = 0;
  let fail = false;
  metrics.readDestinations(async () => {
    reads++;
    if (fail) throw new Error('postgres away');
    return rows;
  });
  let text = await registry.metrics();
  t.equal(reads, 1, 'one read per scrape for all the relay series');
  const l = (d: number, stream = streamA) => `destination="d0000000-0000-4000-8000-00000000000${d}",stream="${stream}"`;
  t.match(text, `onair_relay_destination_status{${l(1)},status="live",role="api"} 1`);
  t.match(text, `onair_relay_destination_status{${l(2)},status="retrying",role="api"} 1`);
  t.match(text, `onair_relay_destination_status{${l(3, streamB)},status="idle",role="api"} 1`);
  t.equal(text.match(/^onair_relay_destination_status\{/gm)?.length, 3, 'one status series per destination');
  t.match(text, `onair_relay_destination_sent_bytes_total{${l(1)},role="api"} 1234567`);
  t.match(text, `onair_relay_destination_bitrate_kbps{${l(1)},role="api"} 4600.5`);
  t.match(text, `onair_relay_destination_bitrate_kbps{${l(2)},role="api"} 0`, 'no bitrate yet: 0');
  t.match(text, `onair_relay_destination_retries_total{${l(2)},role="api"} 3`);
  t.match(text, 'onair_relay_destinations{status="live",enabled="true",role="api"} 1');
  t.match(text, 'onair_relay_destinations{status="idle",enabled="false",role="api"} 1');
  t.match(text, 'onair_relay_destinations{status="failed",enabled="true",role="api"} 0', 'every status shows');

  // the second goes live after its retries; the third is deleted
  rows = [rows[0]!, { ...rows[1]!, status: 'live', bytesSent: 2_000, bitrateKbps: 2_500, retries: 4 }];
  text = await registry.metrics();
  t.match(text, `onair_relay_destination_status{${l(2)},status="live",role="api"} 1`);
  t.notMatch(text, `status="retrying",role="api"} 1`, 'its old status series is gone');
  t.match(text, `onair_relay_destination_retries_total{${l(2)},role="api"} 4`);
  t.notOk(text.includes('d0000000-0000-4000-8000-000000000003'), 'a deleted destination leaves every series');
  t.notOk(text.includes(streamB), 'and so does its stream, with no destination left');
  t.match(text, 'onair_relay_destinations{status="live",enabled="true",role="api"} 2');

  fail = true;
  const stale = await registry.metrics();
  t.match(stale, `onair_relay_destination_status{${l(2)},status="live",role="api"} 1`, 'Postgres away: the last values stay (stale), not 0');
});

t.test('relay counters of the worker: connects by outcome show at 0', async (t) => {
  const { metrics, registry } = createMetrics('worker', { processMetrics: false });
  let text = await registry.metrics();
  t.match(text, 'onair_relay_connects_total{outcome="live",role="worker"} 0');
  t.match(text, 'onair_relay_connects_total{outcome="failed",role="worker"} 0');
  metrics.relayConnects.inc({ outcome: 'failed' });
  metrics.relaySentBytes.inc(4096);
  metrics.relayKeyframeDrops.inc();
  text = await registry.metrics();
  t.match(text, 'onair_relay_connects_total{outcome="failed",role="worker"} 1');
  t.match(text, 'onair_relay_sent_bytes_total{role="worker"} 4096');
  t.match(text, 'onair_relay_keyframe_drops_total{role="worker"} 1');
});

t.test('the bearer check', async (t) => {
  const key = 'k'.repeat(16);
  t.ok(metricsAuthorized(`Bearer ${key}`, key));
  t.ok(metricsAuthorized(`bearer ${key}`, key));
  t.notOk(metricsAuthorized(undefined, key));
  t.notOk(metricsAuthorized(`Bearer ${key}x`, key));
  t.notOk(metricsAuthorized(key, key));
  t.notOk(metricsAuthorized('Bearer ', ''), 'no key configured: nobody');
});

t.test('the metrics server of ingest and worker', async (t) => {
  const { registry } = createMetrics('worker', { processMetrics: false });
  const key = 'secret-key-0123456789';
  const server = await serveMetrics({ registry, key, host: '127.0.0.1', port: 0 });
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${server.port}`;
  t.equal((await fetch(`${url}/metrics`)).status, 401);
  const ok = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  t.equal(ok.status, 200);
  t.match(ok.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  t.match(await ok.text(), /# TYPE onair_hls_segments_written_total counter/);
  t.equal((await fetch(`${url}/`, { headers: { authorization: `Bearer ${key}` } })).status, 404);
});

t.test('the Grafana dashboard is valid and queries only metrics that exist', async (t) => {
  const dash = JSON.parse(readFileSync(path.join(APP_ROOT, 'grafana', 'onair-dashboard.json'), 'utf8'));
  t.equal(dash.__inputs[0].name, 'DS_PROMETHEUS');
  t.ok(typeof dash.uid === 'string' && typeof dash.title === 'string');
  const known = new Set<string>();
  for (const role of ROLES) for (const n of await sampleNames(role)) known.add(n);
  const exprs: string[] = [];
  for (const p of dash.panels) {
    if (p.type === 'row') continue;
    t.same(p.datasource, { type: 'prometheus', uid: '${DS_PROMETHEUS}' }, `${p.title}: the input datasource`);
    t.ok(p.gridPos && p.targets.length > 0, `${p.title}: placed, with queries`);
    for (const target of p.targets) exprs.push(target.expr);
  }
  const used = new Set(exprs.flatMap((e) => e.match(/\bonair_[a-z0-9_]+/g) ?? []));
  t.ok(used.size >= 20, `${used.size} metric names used`);
  for (const name of used) t.ok(known.has(name), `${name} exists in metrics.ts (or the process metrics)`);
  const rows = dash.panels.filter((p: { type: string }) => p.type === 'row').map((p: { title: string }) => p.title);
  t.same(rows, ['Ingest', 'Transcoding', 'HLS', 'Relays', 'API', 'WebSocket', 'Viewer analytics', 'Processes']);
});
