// One moof (+ its mdat) seen as an LL-HLS part: duration and presentation start from the video
// track, INDEPENDENT when the first video sample (in decode order) is a sync sample.
import { readMoof } from './moof.js';
import type { InitInfo, TrackInfo } from './moov.js';

export interface FragmentInfo {
  /** seconds, the sum of the video samples' durations (the leading track, as MediaMTX does) */
  duration: number;
  /** seconds, the earliest presentation time among the video samples (tfdt + CTO − edit shift) */
  start: number;
  /** the first video sample is a sync sample (an IDR for H.264) */
  independent: boolean;
  /** video samples in the fragment (for the measured frame rate) */
  frames: number;
  /** seconds, half the mean video sample duration: the tolerance when comparing rungs' times */
  halfFrame: number;
}

export function describeFragment(moofBody: Buffer, init: InitInfo): FragmentInfo {
  const runs = readMoof(moofBody, (id) => init.tracks.get(id)?.defaults);
  // the video run leads; a fragment without video (only at the very end of a run) uses its longest run
  let lead = init.video ? runs.find((r) => r.trackId === init.video?.trackId && r.samples.length > 0) : undefined;
  const isVideo = lead !== undefined;
  if (!lead) lead = runs.reduce((a, b) => (totalDuration(b.samples) / trackOf(init, b.trackId).timescale > totalDuration(a.samples) / trackOf(init, a.trackId).timescale ? b : a));
  const track = trackOf(init, lead.trackId);
  const duration = totalDuration(lead.samples) / track.timescale;
  let dts = lead.baseMediaDecodeTime;
  let earliest = Number.POSITIVE_INFINITY;
  for (const s of lead.samples) {
    earliest = Math.min(earliest, dts + s.cto - track.editShift);
    dts += s.duration;
  }
  if (!Number.isFinite(earliest)) earliest = lead.baseMediaDecodeTime - track.editShift;
  const first = lead.samples[0];
  const frames = isVideo ? lead.samples.length : 0;
  return {
    duration,
    start: earliest / track.timescale,
    independent: isVideo && first !== undefined && first.sync,
    frames,
    halfFrame: frames > 0 ? duration / frames / 2 : 0,
  };
}

function totalDuration(samples: { duration: number }[]): number {
  let sum = 0;
  for (const s of samples) sum += s.duration;
  return sum;
}

function trackOf(init: InitInfo, id: number): TrackInfo {
  const t = init.tracks.get(id);
  if (!t) throw new Error(`track ${id} vanished`); // readMoof already refused unknown tracks
  return t;
}
