// bench:latency: time from a publisher's first byte to "playable" HLS, the real appliance
// (node dist/bin/all.js: ingest → BullMQ → ffmpeg ladder → nginx) against nginx-rtmp's HLS
// module (Debian's libnginx-mod-rtmp, repackaging only), same file, same run, alternating.
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {
  CACHE_DIR,
  OBS_LIKE_1080P,
  checkIdle,
  ensureSource,
  isEnding,
  machineInfo,
  median,
  onCleanup,
  round,
  runBench,
  say,
  sleep,
  startChild,
  stopChild,
  writeResult,
  type Child,
} from './common.js';
import { createStream, getText, startAppliance, startPeer, waitOursSettled, type Appliance, type BenchStream, type Peer } from './live-sides.js';

const SOURCE_SECONDS = 40;
const ROUNDS = 3;
const TARGET_RATIO = 1.3;
const POLL_MS = 100;
const ROUND_TIMEOUT_MS = 60_000;
const SETTLE_PAUSE_MS = 2_000; // let the CPU go idle between rounds
const BENCH_DEADLINE_MS = 20 * 60_000;

type Side = 'ours' | 'peer';

interface RoundResult {
  round: number;
  side: Side;
  seconds: number | null; // first byte → playable
  fromSpawnSeconds: number | null; // publisher spawned → playable
  milestones?: Record<string, number>; // ours: when each rendition playlist first listed a segment
  error?: string;
}

// ---- "playable" ------------------------------------------------------------------------------

/** URIs of a playlist (variants of a master, or segments of a media playlist), resolved. */
function playlistUris(text: string, base: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => new URL(l, base).href);
}

async function answers200(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer(); // a player downloads the segment whole
  return res.status === 200;
}

/** A media playlist is playable when it lists a segment (#EXTINF) that can be fetched. */
async function mediaPlayable(url: string): Promise<boolean> {
  const { status, text } = await getText(url);
  if (status !== 200 || !text.includes('#EXTINF')) return false;
  for (const seg of playlistUris(text, url)) if (await answers200(seg)) return true;
  return false;
}

/** A master is playable when every variant it lists is; a media playlist stands for itself. */
async function playable(url: string, requireMaster: boolean): Promise<boolean> {
  const { status, text } = await getText(url);
  if (status !== 200) return false;
  if (!text.includes('#EXT-X-STREAM-INF')) return !requireMaster && mediaPlayable(url);
  const variants = playlistUris(text, url);
  if (variants.length === 0) return false;
  const ok = await Promise.all(variants.map((v) => mediaPlayable(v).catch(() => false)));
  return ok.every(Boolean);
}

// ---- the publisher and its first byte --------------------------------------------------------

interface Relay {
  port: number;
  firstByteAt(): number | null;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of the RTMP server: it records when the publisher's first byte (the
 * RTMP handshake) arrives, which is the exact t0; the relay hop costs both sides the same.
 */
function startRelay(targetPort: number): Promise<Relay> {
  let firstByte: number | null = null;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    inbound.once('data', () => (firstByte ??= performance.now()));
    const outbound = net.connect(targetPort, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => undefined); // the peer's close is the end of the round, not a failure
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    inbound.once('close', () => outbound.destroy());
    outbound.once('close', () => inbound.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        firstByteAt: () => firstByte,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

function startPublisher(file: string, url: string): Child {
  // -c copy: publishing costs no CPU, so it does not steal from the transcoder under test
  return startChild('publisher', 'ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', '-re', '-i', file, '-c', 'copy', '-f', 'flv', url]);
}

interface RoundSpec {
  side: Side;
  round: number;
  file: string;
  rtmpPort: number;
  streamKey: string;
  playUrl: string;
  requireMaster: boolean;
  watch?: Record<string, string>; // name → media playlist URL, for milestones
}

/** Publishes until the stream is playable (or the round times out), then stops the publisher. */
async function measureRound(spec: RoundSpec): Promise<RoundResult> {
  const relay = await startRelay(spec.rtmpPort);
  const milestones: Record<string, number> = {};
  const spawnedAt = performance.now(); // t0 fallback: just before spawning the publisher
  const publisher = startPublisher(spec.file, `rtmp://127.0.0.1:${relay.port}/live/${spec.streamKey}`);
  let publisherDone = false;
  void publisher.exited.then(() => (publisherDone = true));
  const result: RoundResult = { round: spec.round, side: spec.side, seconds: null, fromSpawnSeconds: null };
  try {
    const deadline = spawnedAt + ROUND_TIMEOUT_MS;
    while (performance.now() < deadline) {
      const tick = performance.now();
      await watchMilestones(spec.watch ?? {}, milestones);
      if (await playable(spec.playUrl, spec.requireMaster).catch(() => false)) {
        const now = performance.now();
        const t0 = relay.firstByteAt() ?? spawnedAt;
        result.seconds = round((now - t0) / 1000, 3);
        result.fromSpawnSeconds = round((now - spawnedAt) / 1000, 3);
        break;
      }
      if (publisherDone) {
        result.error = `the publisher exited before the stream was playable: ${publisher.stderrTail() || 'no output'}`;
        break;
      }
      await sleep(Math.max(0, POLL_MS - (performance.now() - tick)));
    }
    if (result.seconds === null && !result.error) result.error = `not playable within ${ROUND_TIMEOUT_MS / 1000} s`;
    const t0 = relay.firstByteAt() ?? spawnedAt;
    if (spec.watch) result.milestones = Object.fromEntries(Object.entries(milestones).map(([k, at]) => [k, round((at - t0) / 1000, 3)]));
    return result;
  } finally {
    await stopChild(publisher, 'SIGINT', 3_000);
    await relay.close();
  }
}

async function watchMilestones(watch: Record<string, string>, seen: Record<string, number>): Promise<void> {
  await Promise.all(
    Object.entries(watch)
      .filter(([name]) => seen[name] === undefined)
      .map(async ([name, url]) => {
        const { status, text } = await getText(url).catch(() => ({ status: 0, text: '' }));
        if (status === 200 && text.includes('#EXTINF')) seen[name] = performance.now();
      }),
  );
}

// ---- the bench -------------------------------------------------------------------------------

const OUR_RENDITIONS = ['1080p', '720p', '480p', '360p']; // the default profile on a 1080p source

async function oursRound(app: Appliance, file: string, n: number): Promise<RoundResult> {
  const stream = await createStream(app, `bench latency round ${n}`);
  const hls = `${app.base}/hls/${stream.playbackId}`;
  const result = await measureRound({
    side: 'ours',
    round: n,
    file,
    rtmpPort: app.rtmpPort,
    streamKey: stream.streamKey,
    playUrl: `${hls}/master.m3u8`,
    requireMaster: true,
    watch: Object.fromEntries(OUR_RENDITIONS.map((r) => [r, `${hls}/${r}/index.m3u8`])),
  });
  await waitOursSettled(app, stream, OUR_RENDITIONS).catch((err: Error) => say(`  (round ${n}: ${err.message}; continuing)`));
  return result;
}

async function peerRound(peer: Peer, file: string, n: number): Promise<RoundResult> {
  const key = `bench${n}${randomBytes(4).toString('hex')}`;
  return measureRound({
    side: 'peer',
    round: n,
    file,
    rtmpPort: peer.rtmpPort,
    streamKey: key,
    playUrl: `http://127.0.0.1:${peer.httpPort}/hls/${key}.m3u8`,
    requireMaster: false,
  });
}

function describe(r: RoundResult): string {
  const head = `  round ${r.round} ${r.side === 'ours' ? 'ours      ' : 'nginx-rtmp'}`;
  if (r.seconds === null) return `${head} FAILED: ${r.error}`;
  const ms = r.milestones && Object.keys(r.milestones).length
    ? `  [first segment listed: ${Object.entries(r.milestones).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ')}]`
    : '';
  return `${head} ${r.seconds.toFixed(2)} s  (from spawn ${r.fromSpawnSeconds!.toFixed(2)} s)${ms}`;
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const busyCpusBefore = await checkIdle();
  const file = await ensureSource({ seconds: SOURCE_SECONDS, ...OBS_LIKE_1080P });
  await mkdir(CACHE_DIR, { recursive: true, mode: 0o755 });
  const work = await mkdtemp(path.join(CACHE_DIR, 'latency-'));
  chmodSync(work, 0o755);
  let keepWork = false;
  onCleanup(async () => {
    if (keepWork) say(`Kept ${work} (appliance logs in ${path.join(work, 'appliance', 'logs')}).`);
    else await rm(work, { recursive: true, force: true });
  });

  say(`bench:latency on ${machine.nproc} × ${machine.cpuModel}; source ${path.basename(file)}, published with -re -c copy`);
  const app = await startAppliance(work);
  const peer = await startPeer(work);

  const rounds: RoundResult[] = [];
  for (let n = 1; n <= ROUNDS && !isEnding(); n++) {
    for (const side of ['ours', 'peer'] as const) {
      if (isEnding()) break;
      const r = side === 'ours' ? await oursRound(app, file, n) : await peerRound(peer, file, n);
      if (isEnding()) break; // a round cut short by Ctrl-C is not a measurement
      rounds.push(r);
      say(describe(r));
      await sleep(SETTLE_PAUSE_MS);
    }
  }

  const secs = (side: Side, key: 'seconds' | 'fromSpawnSeconds') =>
    rounds.filter((r) => r.side === side && r[key] !== null).map((r) => r[key]!);
  const medians = {
    ours: median(secs('ours', 'seconds')),
    peer: median(secs('peer', 'seconds')),
    oursFromSpawn: median(secs('ours', 'fromSpawnSeconds')),
    peerFromSpawn: median(secs('peer', 'fromSpawnSeconds')),
  };
  const ratio = medians.ours !== null && medians.peer !== null ? round(medians.ours / medians.peer, 3) : null;
  const met = ratio !== null && ratio <= TARGET_RATIO;
  const failed = rounds.filter((r) => r.seconds === null).length;
  keepWork = failed > 0;
  const out = await writeResult('latency', {
    date: new Date().toISOString(),
    machine: { ...machine, busyCpusBefore },
    source: { file: path.basename(file), seconds: SOURCE_SECONDS, ...OBS_LIKE_1080P },
    method: 't0 = first byte of the publisher at a TCP relay in front of the RTMP port (fromSpawn: just before spawning it); playable = master (ours) and every variant lists a segment that answers 200; polled every 100 ms',
    peer: 'nginx-rtmp (libnginx-mod-rtmp), hls_fragment 2s, hls_playlist_length 12s',
    rounds,
    medians,
    ratio,
    target: `<= ${TARGET_RATIO}`,
    met,
  });

  say('');
  say(`  medians: ours ${medians.ours?.toFixed(2) ?? '—'} s, nginx-rtmp ${medians.peer?.toFixed(2) ?? '—'} s (from spawn: ${medians.oursFromSpawn?.toFixed(2) ?? '—'} s vs ${medians.peerFromSpawn?.toFixed(2) ?? '—'} s)${failed ? `; ${failed} round(s) failed` : ''}`);
  say(`  results: ${out}`);
  say('');
  say(
    `bench:latency ours ${medians.ours?.toFixed(2) ?? '—'} s, nginx-rtmp ${medians.peer?.toFixed(2) ?? '—'} s, ratio ${ratio?.toFixed(2) ?? '—'} (target ≤ ${TARGET_RATIO}): ${met ? 'met' : 'NOT met'}`,
  );
}

runBench('bench:latency', main, BENCH_DEADLINE_MS);
