// Pure: what a low-latency publish's broadcaster is told about their encoder, from the GOP and
// B-frames the ingest measured (src/ingest/gop-meter.ts). Low latency is decided by the
// publisher's settings as much as by us (LL-HLS-NOTES.md §5): keyframes at most 2 s apart (1 s
// best), no B-frames, an encoder that does not hold frames back (x264 zerolatency, NVENC low-latency).
import { LL_COPY_MAX_GOP_SECONDS, lowLatencyCopyRefusal } from '../transcode/ladder.js';
import type { SourceInfo } from './types.js';

export interface Advice {
  level: 'info' | 'warn';
  message: string;
}

const OBS_KEYFRAMES = 'OBS: Settings › Output › Keyframe Interval 1 s';
const OBS_NO_B_FRAMES = 'OBS x264: Tune "zerolatency" (or x264 options bframes=0); NVENC: Tuning "Low Latency", B-frames 0';

export function lowLatencyAdvice(source: SourceInfo): Advice[] {
  const advice: Advice[] = [];
  const gop = source.keyframeIntervalSeconds ?? null;
  if (source.videoCodec === 'h264' && lowLatencyCopyRefusal(source) !== null) {
    const how =
      gop !== null
        ? `your encoder sends a keyframe every ${gop.toFixed(1)} s`
        : source.keyframeIntervalAtLeastSeconds
          ? `your encoder's keyframes are more than ${source.keyframeIntervalAtLeastSeconds.toFixed(1)} s apart`
          : 'your encoder’s keyframe interval could not be measured';
    advice.push({
      level: 'warn',
      message:
        `Low latency: ${how}, more than the ${LL_COPY_MAX_GOP_SECONDS} s low latency allows, so the top quality is re-encoded ` +
        `rather than passed through (more CPU, a little less picture quality). Set the keyframe interval to 1 s (${OBS_KEYFRAMES}).`,
    });
  } else if (gop !== null && gop > 1.05) {
    advice.push({
      level: 'info',
      message: `Low latency: keyframes every ${gop.toFixed(1)} s work; every 1 s lets viewers join and switch quality sooner (${OBS_KEYFRAMES}).`,
    });
  }
  if (source.bFrames) {
    advice.push({
      level: 'warn',
      message: `Low latency: your encoder sends B-frames, which add delay in every player. Turn them off (${OBS_NO_B_FRAMES}).`,
    });
  }
  return advice;
}
