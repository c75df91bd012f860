// bench:transcode: CPU-seconds per minute of video of our ladder (one ffmpeg: one decode, the
// 1080p rung passed through, three encodes) against a naive ladder (four ffmpegs, each decoding
// the source and encoding one rung, 1080p included), measured in the same run on the same file;
// and the same ladder recorded (the recording output keeping its segments, then the finalise)
// against it unrecorded: the recording's CPU and disk cost; and what the live thumbnail adds to
// ours (the same argv with the thumbnail output); and ours in low-latency mode (fragmented MP4
// into pipes, packaged into LL-HLS parts and segments by this process) against ours in standard mode.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { PROFILES_DIR } from '../paths.js';
import type { SourceInfo } from '../streams/types.js';
import { prepareOutputDir } from '../transcode/hls-output.js';
import { buildFfmpegArgs, hlsSlaves, planLadder } from '../transcode/ladder.js';
import { loadProfile, type Profile, type Rung } from '../transcode/profiles.js';
import { thumbnailArgs } from '../transcode/thumbnail-output.js';
import { measureFinalise, ownUsage, startMirror } from './transcode-recording.js';
import { llVariant, runLl, type LlMeasured } from './transcode-ll.js';
import { llCpuSummary } from './transcode-ll-summary.js';
import { CACHE_DIR, OBS_LIKE_1080P, checkIdle, ensureSource, isEnding, killAllChildren, machineCpu, machineInfo, measureCpu, median, onCleanup, probeDuration, round, runBench, say, writeResult, type CpuRun } from './common.js';

const SOURCE_SECONDS = 20;
const REPEATS = 2;
const TARGET_RATIO = 0.45;
/** Recording on vs off: at most this much more CPU while live (issue 11). */
const RECORDING_TARGET = 1.05;
/** Low-latency mode: its ffmpeg plus its packaging at most this much of standard mode's (issue 14). */
const LL_TARGET = 1.15;

// What the ingest would report for this file from OBS: H.264 1080p30 at 4.5 Mb/s, AAC.
const SOURCE: SourceInfo = {
  videoCodec: 'h264',
  audioCodec: 'aac',
  width: 1920,
  height: 1080,
  fps: 30,
  videoBitrateKbps: OBS_LIKE_1080P.videoKbps,
  audioBitrateKbps: 128,
  avcProfile: null,
};

interface Job {
  rendition: string;
  args: string[];
}

interface Variant {
  name: 'ours' | 'naive' | 'recorded' | 'thumbnail';
  renditions: string[];
  jobs: Job[]; // run concurrently
}

/** Our production argv, exactly as the worker builds it (the input is a file, not the pull). */
function oursVariant(profile: Profile, input: string, outDir: string): Variant {
  const plan = planLadder(profile, SOURCE);
  const renditions = plan.renditions.map((r) => r.name);
  return { name: 'ours', renditions, jobs: [{ rendition: renditions.join('+'), args: buildFfmpegArgs({ profile, plan, inputUrl: input, slaves: hlsSlaves({ profile, plan, outDir, resume: false, segmentTag: 'bench' }) }) }] };
}

/**
 * Ours with the live thumbnail, as the worker adds it (thumbnail-output.ts): a tap off the 360p
 * picture, a JPEG every 4 s. The worker's target is a pipe it reads; here ffmpeg writes the
 * pictures to a file (the bench's fd 3 carries the CPU figures), the same muxer and encoder.
 */
function thumbnailVariant(profile: Profile, input: string, outDir: string): Variant {
  const plan = planLadder(profile, SOURCE);
  const renditions = plan.renditions.map((r) => r.name);
  const thumb = [...thumbnailArgs({ tap: 'tap_thumb', pipe: 'pipe:3' }).slice(0, -1), path.join(outDir, 'thumbs.mjpeg')];
  const slaves = hlsSlaves({ profile, plan, outDir, resume: false, segmentTag: 'bench' });
  return { name: 'thumbnail', renditions, jobs: [{ rendition: `${renditions.join('+')}+thumbnail`, args: buildFfmpegArgs({ profile, plan, inputUrl: input, slaves, taps: ['tap_thumb'], outputs: [thumb] }) }] };
}

/**
 * The naive ladder reuses buildFfmpegArgs with a one-rung profile and no passthrough: each
 * process then gets the same preset, VBV, GOP/forced keyframes, audio and HLS muxer options as
 * ours, so the comparison isolates the architecture (four decodes and a 1080p re-encode)
 * rather than any difference between two hand-written argv lists.
 */
function naiveVariant(profile: Profile, input: string, outDir: string): Variant {
  const jobs = profile.rungs.map((rung: Rung): Job => {
    const single: Profile = { ...profile, passthroughTopRung: false, rungs: [rung] };
    const plan = planLadder(single, SOURCE);
    return { rendition: rung.name, args: buildFfmpegArgs({ profile: single, plan, inputUrl: input, slaves: hlsSlaves({ profile: single, plan, outDir, resume: false, segmentTag: 'bench' }) }) };
  });
  return { name: 'naive', renditions: profile.rungs.map((r) => r.name), jobs };
}

interface Measured {
  cpuSeconds: number;
  wallSeconds: number;
  otherCpuSeconds: number; // used meanwhile by processes not under test: noise
  stealSeconds: number;
  /** This process meanwhile (for `recorded`: the recording output's segment mirror). */
  ownCpuSeconds: number;
  ownWrittenBytes: number;
  /** `recorded`: the bytes the recording keeps (every rung's segments). */
  keptBytes?: number;
}

async function assertFinished(outDir: string, renditions: string[]): Promise<void> {
  for (const name of renditions) {
    const text = await readFile(path.join(outDir, name, 'index.m3u8'), 'utf8').catch(() => '');
    // no EXT-X-ENDLIST to look for: the ladder's argv has omit_endlist (the worker writes it when the publish really ends)
    if (!text.includes('#EXTINF')) throw new Error(`${name}/index.m3u8 is missing or has no segment in ${outDir}`);
  }
}

async function runVariant(variant: Variant, outDir: string, recordTo?: string): Promise<Measured> {
  await prepareOutputDir(outDir, variant.renditions, false);
  const before = await machineCpu();
  const own = await ownUsage();
  const started = performance.now();
  const mirror = recordTo ? await startMirror({ liveDir: outDir, dir: recordTo, renditions: variant.renditions }) : null;
  const runs: CpuRun[] = await Promise.all(variant.jobs.map((j) => measureCpu(`ffmpeg ${variant.name} ${j.rendition}`, 'ffmpeg', j.args)));
  const kept = await mirror?.stop();
  const wallSeconds = (performance.now() - started) / 1000;
  const usage = await own();
  const after = await machineCpu();
  await assertFinished(outDir, variant.renditions);
  if (kept && kept.errors > 0) throw new Error(`the recording's mirror failed ${kept.errors} times`);
  const cpuSeconds = runs.reduce((s, r) => s + r.cpuSeconds, 0);
  return {
    cpuSeconds,
    wallSeconds,
    otherCpuSeconds: Math.max(0, after.busySeconds - before.busySeconds - cpuSeconds - usage.cpuSeconds),
    stealSeconds: after.stealSeconds - before.stealSeconds,
    ownCpuSeconds: usage.cpuSeconds,
    ownWrittenBytes: usage.writtenBytes,
    ...(kept ? { keptBytes: kept.keptBytes } : {}),
  };
}

/** Other load above 5% of the run's own CPU skews it (shared caches, SMT, frequency). */
function noisy(m: Pick<Measured, 'cpuSeconds' | 'otherCpuSeconds' | 'stealSeconds'>): boolean {
  return m.otherCpuSeconds + m.stealSeconds > 0.05 * m.cpuSeconds;
}

function summarize(runs: Measured[], videoSeconds: number, processes: number) {
  const cpuSeconds = median(runs.map((r) => r.cpuSeconds))!;
  const wallSeconds = median(runs.map((r) => r.wallSeconds))!;
  return {
    processes,
    runs: runs.map((r) => ({ cpuSeconds: round(r.cpuSeconds), wallSeconds: round(r.wallSeconds), otherCpuSeconds: round(r.otherCpuSeconds), stealSeconds: round(r.stealSeconds) })),
    cpuSeconds: round(cpuSeconds),
    cpuSecondsPerMinute: round(cpuSeconds / (videoSeconds / 60), 1),
    wallSeconds: round(wallSeconds),
    speed: round(videoSeconds / wallSeconds), // × real time, for the record
  };
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const busyCpusBefore = await checkIdle();
  const input = await ensureSource({ seconds: SOURCE_SECONDS, ...OBS_LIKE_1080P });
  const videoSeconds = await probeDuration(input);
  const profile = await loadProfile(PROFILES_DIR, 'default');
  const work = await mkdtemp(path.join(CACHE_DIR, 'transcode-'));
  onCleanup(() => rm(work, { recursive: true, force: true }));
  onCleanup(killAllChildren); // runs first: no ffmpeg still writing into the dir being removed

  const ours = oursVariant(profile, input, path.join(work, 'ours'));
  const naive = naiveVariant(profile, input, path.join(work, 'naive'));
  const recorded: Variant = { ...oursVariant(profile, input, path.join(work, 'recorded')), name: 'recorded' };
  const recordingDir = path.join(work, 'recording');
  const thumbnail = thumbnailVariant(profile, input, path.join(work, 'thumbnail'));
  // the ingest measures the publisher's GOP; LL passes the 1080p rung through only at ≤ 2 s
  const ll = llVariant({ profile, source: { ...SOURCE, keyframeIntervalSeconds: OBS_LIKE_1080P.gopSeconds }, input });
  say(`bench:transcode on ${machine.nproc} × ${machine.cpuModel}; source ${path.basename(input)} (${round(videoSeconds, 1)} s)`);
  say(`  ours : 1 ffmpeg, ${ours.renditions.join('/')} (${planLadder(profile, SOURCE).renditions.filter((r) => r.passthrough).map((r) => r.name).join(', ') || 'no'} passthrough)`);
  say(`  naive: ${naive.jobs.length} ffmpegs at once, one rung each, all re-encoded`);
  say(`  ll   : 1 ffmpeg, ${ll.renditions.join('/')} as fragmented MP4 into pipes, packaged here (TARGETDURATION ${ll.targetDuration}, parts ${ll.partSeconds} s)`);

  const results: Record<Variant['name'], Measured[]> = { ours: [], naive: [], recorded: [], thumbnail: [] };
  const llRuns: LlMeasured[] = [];
  // alternate so drift (thermal, other load) touches every variant the same way
  for (let i = 1; i <= REPEATS; i++) {
    for (const variant of [ours, naive, recorded, thumbnail]) {
      if (isEnding()) return;
      const m = await runVariant(variant, path.join(work, variant.name), variant === recorded ? recordingDir : undefined);
      results[variant.name].push(m);
      const noise = noisy(m) ? `  (noisy: other processes used ${m.otherCpuSeconds.toFixed(1)} cpu-s, steal ${m.stealSeconds.toFixed(1)} s)` : '';
      say(`  run ${i} ${variant.name.padEnd(8)} cpu ${m.cpuSeconds.toFixed(2)} s  wall ${m.wallSeconds.toFixed(2)} s  → ${(m.cpuSeconds / (videoSeconds / 60)).toFixed(1)} cpu-s/min${noise}`);
    }
    if (isEnding()) return;
    const m = await runLl(ll, path.join(work, 'll'));
    llRuns.push(m);
    const cpu = m.ffmpegCpuSeconds + m.packagingCpuSeconds;
    const noise = noisy({ cpuSeconds: cpu, otherCpuSeconds: m.otherCpuSeconds, stealSeconds: m.stealSeconds }) ? `  (noisy: other processes used ${m.otherCpuSeconds.toFixed(1)} cpu-s, steal ${m.stealSeconds.toFixed(1)} s)` : '';
    const made = Object.entries(m.produced).map(([name, p]) => `${name} ${p.segments} seg/${p.parts} parts`).join(', ');
    say(`  run ${i} ${'ll'.padEnd(8)} cpu ${cpu.toFixed(2)} s (ffmpeg ${m.ffmpegCpuSeconds.toFixed(2)} + packaging ${m.packagingCpuSeconds.toFixed(2)})  wall ${m.wallSeconds.toFixed(2)} s  → ${(cpu / (videoSeconds / 60)).toFixed(1)} cpu-s/min; ${made}${noise}`);
  }

  const o = summarize(results.ours, videoSeconds, ours.jobs.length);
  const n = summarize(results.naive, videoSeconds, naive.jobs.length);
  const r = summarize(results.recorded, videoSeconds, recorded.jobs.length);
  const th = summarize(results.thumbnail, videoSeconds, thumbnail.jobs.length);
  const thumbnailCost = round(th.cpuSeconds / o.cpuSeconds - 1, 3); // the share the thumbnail adds to ours (ffmpeg's CPU)
  const ratio = round(o.cpuSeconds / n.cpuSeconds, 3);
  const met = ratio <= TARGET_RATIO;
  const llNoisy = llRuns.some((m) => noisy({ cpuSeconds: m.ffmpegCpuSeconds + m.packagingCpuSeconds, otherCpuSeconds: m.otherCpuSeconds, stealSeconds: m.stealSeconds }));
  const wasNoisy = [...results.ours, ...results.naive, ...results.recorded, ...results.thumbnail].some(noisy) || llNoisy;
  const llCpu = llCpuSummary({ standard: results.ours.map((m) => ({ ffmpegCpuSeconds: m.cpuSeconds, ownCpuSeconds: m.ownCpuSeconds })), ll: llRuns, videoSeconds, target: LL_TARGET });
  const rec = await recordingCost({ ours: results.ours, recorded: results.recorded, videoSeconds, dir: recordingDir, renditions: planLadder(profile, SOURCE).renditions });
  const file = await writeResult('transcode', {
    date: new Date().toISOString(),
    machine: { ...machine, busyCpusBefore },
    noisy: wasNoisy,
    source: { file: path.basename(input), videoSeconds: round(videoSeconds, 3), ...OBS_LIKE_1080P, sourceInfo: SOURCE },
    profile: profile.name,
    repeats: REPEATS,
    ours: { ...o, argv: ours.jobs[0]!.args },
    naive: { ...n, argv: naive.jobs.map((j) => j.args) },
    ratio,
    target: `<= ${TARGET_RATIO}`,
    met,
    recording: rec,
    thumbnail: { ...th, argv: thumbnail.jobs[0]!.args, addsToOurs: thumbnailCost },
    lowLatency: {
      ...llCpu,
      runs: llRuns.map((m) => ({ ffmpegCpuSeconds: round(m.ffmpegCpuSeconds), packagingCpuSeconds: round(m.packagingCpuSeconds, 3), wallSeconds: round(m.wallSeconds), otherCpuSeconds: round(m.otherCpuSeconds), stealSeconds: round(m.stealSeconds), produced: m.produced })),
      wallSeconds: round(median(llRuns.map((m) => m.wallSeconds))!),
      argv: ll.args,
    },
  });

  say('');
  say(`  ${'variant'.padEnd(8)} ${'cpu-s'.padStart(8)} ${'cpu-s/min'.padStart(10)} ${'wall-s'.padStart(8)} ${'speed'.padStart(7)}   (median of ${REPEATS})`);
  for (const [name, v] of [['ours', o], ['naive', n], ['recorded', r], ['+thumb', th]] as const) {
    say(`  ${name.padEnd(8)} ${v.cpuSeconds.toFixed(2).padStart(8)} ${v.cpuSecondsPerMinute.toFixed(1).padStart(10)} ${v.wallSeconds.toFixed(2).padStart(8)} ${(v.speed.toFixed(2) + 'x').padStart(7)}`);
  }
  say(`  recording on vs off: cpu ×${rec.cpuRatio.toFixed(3)} measured (the mirror itself: ×${rec.mirrorCpuRatio.toFixed(3)}), target ≤ ×${RECORDING_TARGET}; ` +
    `finalise ${rec.finalise.cpuSecondsPerMinute.toFixed(1)} cpu-s/min after the live; disk writes ×${rec.diskWriteRatioLive.toFixed(3)} while live, ×${rec.diskWriteRatioWithFinalise.toFixed(3)} with the MP4; ` +
    `keeps ${rec.keptMBPerMinute.toFixed(1)} MB/min (all rungs + MP4: ${rec.retainedMBPerMinute.toFixed(1)} MB/min)`);
  say(`  the live thumbnail adds ${(thumbnailCost * 100).toFixed(1)} % to ours (ffmpeg's CPU)`);
  say(`  low latency: ffmpeg ${llCpu.ffmpegCpuSecondsPerMinute.toFixed(1)} + packaging ${llCpu.packagingCpuSecondsPerMinute.toFixed(2)} = ${llCpu.cpuSecondsPerMinute.toFixed(1)} cpu-s/min ` +
    `against standard ${llCpu.standardCpuSecondsPerMinute.toFixed(1)} cpu-s/min: ×${llCpu.ratio.toFixed(3)} (ffmpeg alone ×${llCpu.ffmpegRatio.toFixed(3)}), target ≤ ×${LL_TARGET}`);
  say(`  results: ${file}`);
  say('');
  say(
    `bench:transcode ours ${o.cpuSecondsPerMinute.toFixed(1)} cpu-s/min, naive ${n.cpuSecondsPerMinute.toFixed(1)} cpu-s/min, ratio ${ratio.toFixed(3)} (target ≤ ${TARGET_RATIO}): ${met ? 'met' : 'NOT met'}${wasNoisy ? ' (other load during the runs: noisy)' : ''}`,
  );
  say(`bench:transcode low latency ×${llCpu.ratio.toFixed(3)} of standard (ffmpeg + packaging; target ≤ ${LL_TARGET}): ${llCpu.met ? 'met' : 'NOT met'}${llNoisy ? ' (other load during the runs: noisy)' : ''}`);
}

/**
 * Recording on vs off. CPU: each variant's ffmpeg plus this process (which, for `recorded`, runs
 * the segment mirror); the mirror's own share is told apart, since two ffmpeg runs of the same
 * argv differ by a few percent anyway. Disk: the segments are hard links (no bytes written twice);
 * what the recording adds is its playlists while live, and the MP4, poster and VOD playlists
 * when finalised.
 */
async function recordingCost(o: { ours: Measured[]; recorded: Measured[]; videoSeconds: number; dir: string; renditions: { name: string; width: number; height: number; bandwidth: number; codecs: string; frameRate: number }[] }) {
  const minutes = o.videoSeconds / 60;
  const off = median(o.ours.map((m) => m.cpuSeconds + m.ownCpuSeconds))!;
  const on = median(o.recorded.map((m) => m.cpuSeconds + m.ownCpuSeconds))!;
  const mirrorCpu = Math.max(0, median(o.recorded.map((m) => m.ownCpuSeconds))! - median(o.ours.map((m) => m.ownCpuSeconds))!);
  const kept = median(o.recorded.map((m) => m.keptBytes ?? 0))!;
  const playlistBytes = Math.max(0, median(o.recorded.map((m) => m.ownWrittenBytes))! - median(o.ours.map((m) => m.ownWrittenBytes))!);
  const fin = await measureFinalise({ dir: o.dir, renditions: o.renditions.map(({ name, width, height, bandwidth, codecs, frameRate }) => ({ name, width, height, bandwidth, codecs, frameRate })), childEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  if (Math.abs(fin.durationSeconds - o.videoSeconds) > 2.5) throw new Error(`the recording holds ${fin.durationSeconds} s of ${o.videoSeconds} s: the mirror lost segments`);
  const finaliseWritten = fin.sizeBytes - kept;
  const MB = 1024 * 1024;
  return {
    cpuSecondsOff: round(off),
    cpuSecondsOn: round(on),
    cpuRatio: round(on / off, 3),
    mirrorCpuSeconds: round(mirrorCpu, 3),
    mirrorCpuRatio: round(1 + mirrorCpu / off, 4),
    target: `<= ${RECORDING_TARGET}`,
    met: on / off <= RECORDING_TARGET,
    finalise: { cpuSeconds: round(fin.cpuSeconds), cpuSecondsPerMinute: round(fin.cpuSeconds / minutes, 2), wallSeconds: round(fin.wallSeconds), durationSeconds: fin.durationSeconds, mp4Bytes: fin.mp4Bytes },
    keptBytes: kept,
    playlistBytesWritten: playlistBytes,
    diskWriteRatioLive: round((kept + playlistBytes) / kept, 4),
    diskWriteRatioWithFinalise: round((kept + playlistBytes + finaliseWritten) / kept, 3),
    keptMBPerMinute: round(kept / MB / minutes, 1),
    retainedMBPerMinute: round(fin.sizeBytes / MB / minutes, 1),
  };
}

runBench('bench:transcode', main);
