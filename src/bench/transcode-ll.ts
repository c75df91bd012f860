// bench:transcode's low-latency variant (issue 14): our ladder as the worker runs it in LL mode —
// the same source file, the LL argv from the same builder (each rendition fragmented MP4 into a
// pipe), and the pipes read and packaged in this process as the worker's RenditionWriter does
// (parts, segments and playlists written atomically into a temp dir; the Redis feed is a no-op),
// so the packaging's CPU is measured too: this process's CPU over the run.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { LlFeed } from '../llhls/feed-publisher.js';
import { RenditionWriter } from '../llhls/rendition-writer.js';
import { LlSession } from '../llhls/session.js';
import type { SourceInfo } from '../streams/types.js';
import { prepareOutputDir } from '../transcode/hls-output.js';
import { buildFfmpegArgs, llSlaves, planLadder } from '../transcode/ladder.js';
import type { Profile } from '../transcode/profiles.js';
import { FIRST_PIPE_FD, machineCpu, measureCpu } from './common.js';
import { ownUsage } from './transcode-recording.js';

export interface LlVariant {
  renditions: string[];
  args: string[];
  targetDuration: number;
  partSeconds: number;
}

/** The worker's LL argv for this source (its GOP in `keyframeIntervalSeconds`: 2 s passes the 1080p rung through). */
export function llVariant(o: { profile: Profile; source: SourceInfo; input: string }): LlVariant {
  const plan = planLadder(o.profile, o.source, { lowLatency: true });
  const ll = plan.lowLatency!;
  const pipes = plan.renditions.map((_, i) => `pipe:${FIRST_PIPE_FD + i}`);
  return {
    renditions: plan.renditions.map((r) => r.name),
    args: buildFfmpegArgs({ profile: o.profile, plan, inputUrl: o.input, slaves: llSlaves({ plan, pipes }) }),
    targetDuration: ll.segmentSeconds,
    partSeconds: ll.partSeconds,
  };
}

export interface LlMeasured {
  ffmpegCpuSeconds: number;
  packagingCpuSeconds: number;
  wallSeconds: number;
  otherCpuSeconds: number;
  stealSeconds: number;
  /** per rendition: files on disk after the run */
  produced: Record<string, { segments: number; parts: number; inits: number }>;
}

const noFeed: LlFeed = { publish: async () => {}, saveState: async () => {}, loadState: async () => null };

/** One LL run; throws when a rendition yielded no segment or part, or the packager reported an error. */
export async function runLl(variant: LlVariant, outDir: string): Promise<LlMeasured> {
  await prepareOutputDir(outDir, variant.renditions, false);
  const problems: string[] = [];
  // the writer logs a failing step at error level: every such line is a failed run
  const log = pino({ level: 'error' }, new Writable({ write: (line: Buffer, _enc, done) => (problems.push(line.toString().trim()), done()) }));
  const session = new LlSession({ prefix: 'bench', targetDuration: variant.targetDuration, nominalPart: variant.partSeconds });
  const writers: RenditionWriter[] = [];
  for (const name of variant.renditions) {
    writers.push(
      new RenditionWriter({
        packager: session.rendition(name),
        dir: path.join(outDir, name),
        playbackId: 'bench',
        presentation: 'bench',
        feed: noFeed,
        others: () => writers.filter((w) => w.name !== name).flatMap((w) => (w.report() ? [{ uri: `../${w.name}/index.m3u8`, ...w.report()! }] : [])),
        log,
        events: { broken: (rendition, message) => problems.push(`${rendition}: ${message}`) },
      }),
    );
  }
  const before = await machineCpu();
  const own = await ownUsage();
  const run = await measureCpu(`ffmpeg ll ${variant.renditions.join('+')}`, 'ffmpeg', variant.args, {
    pipes: writers.length,
    onPipes: (streams) => streams.forEach((s, i) => writers[i]!.read(s)),
  });
  // the pipes closed with ffmpeg (each ended its run); what is queued, then the publish's end
  await Promise.all(writers.map((w) => w.idle()));
  await Promise.all(writers.map((w) => w.end()));
  const usage = await own();
  const after = await machineCpu();
  const produced: LlMeasured['produced'] = {};
  for (const name of variant.renditions) {
    const files = await readdir(path.join(outDir, name));
    const count = (re: RegExp) => files.filter((f) => re.test(f)).length;
    produced[name] = { segments: count(/-seg\d+\.m4s$/), parts: count(/-part\d+\.m4s$/), inits: count(/-init\d+\.mp4$/) };
    if (produced[name].segments === 0 || produced[name].parts === 0 || produced[name].inits === 0) problems.push(`${name} produced ${JSON.stringify(produced[name])}`);
  }
  if (problems.length > 0) throw new Error(`the low-latency run failed its checks: ${problems.join('; ')}`);
  return {
    ffmpegCpuSeconds: run.cpuSeconds,
    packagingCpuSeconds: usage.cpuSeconds,
    wallSeconds: run.wallSeconds,
    otherCpuSeconds: Math.max(0, after.busySeconds - before.busySeconds - run.cpuSeconds - usage.cpuSeconds),
    stealSeconds: after.stealSeconds - before.stealSeconds,
    produced,
  };
}
