// bench:transcode's low-latency figure (issue 14): the LL ladder's CPU — its ffmpeg plus the
// packaging of the pipes in this process — against our standard ladder's (its ffmpeg plus this
// process meanwhile, which does next to nothing), per minute of video and as a ratio. Pure.
import { median, round } from './common.js';

export interface StandardCpu {
  ffmpegCpuSeconds: number;
  /** the bench process meanwhile: what the standard ladder costs the worker */
  ownCpuSeconds: number;
}

export interface LlCpu {
  ffmpegCpuSeconds: number;
  /** the bench process meanwhile: reading the pipes, packaging, writing parts and segments */
  packagingCpuSeconds: number;
}

/** Medians of the repeats; `ratio` (LL total / standard total) is the one held to `target`. */
export function llCpuSummary(o: { standard: StandardCpu[]; ll: LlCpu[]; videoSeconds: number; target: number }) {
  if (o.standard.length === 0 || o.ll.length === 0) throw new Error('llCpuSummary needs at least one run of each mode.');
  const minutes = o.videoSeconds / 60;
  const standardFfmpeg = median(o.standard.map((r) => r.ffmpegCpuSeconds))!;
  const standardTotal = median(o.standard.map((r) => r.ffmpegCpuSeconds + r.ownCpuSeconds))!;
  const ffmpeg = median(o.ll.map((r) => r.ffmpegCpuSeconds))!;
  const packaging = median(o.ll.map((r) => r.packagingCpuSeconds))!;
  const total = median(o.ll.map((r) => r.ffmpegCpuSeconds + r.packagingCpuSeconds))!;
  const ratio = round(total / standardTotal, 3);
  return {
    standardCpuSeconds: round(standardTotal),
    standardCpuSecondsPerMinute: round(standardTotal / minutes, 1),
    ffmpegCpuSeconds: round(ffmpeg),
    ffmpegCpuSecondsPerMinute: round(ffmpeg / minutes, 1),
    packagingCpuSeconds: round(packaging),
    packagingCpuSecondsPerMinute: round(packaging / minutes, 2),
    cpuSeconds: round(total),
    cpuSecondsPerMinute: round(total / minutes, 1),
    /** LL ffmpeg alone against the standard ffmpeg alone: how much is the muxing/x264 tune, not the packager */
    ffmpegRatio: round(ffmpeg / standardFfmpeg, 3),
    ratio,
    target: `<= ${o.target}`,
    met: total / standardTotal <= o.target,
  };
}
