// One publish session of a low-latency stream: the constants every rendition shares and that must
// never change while the session lasts (Apple clients stop for good on a PART-TARGET or
// PART-HOLD-BACK change, mediamtx#6237; TARGETDURATION may not grow), the file-name prefix, and the
// wall clock that gives every rendition the same PROGRAM-DATE-TIME for the same media time.
import { badRequest } from '../errors.js';
import { RenditionPackager } from './packager.js';
import type { LlConstants, SessionLink } from './types.js';

export interface LlSessionOptions {
  /** per publish session, e.g. 8 random hex digits: makes every file name immutable */
  prefix: string;
  /** integer seconds, from the publisher's GOP (e.g. ceil of the measured keyframe interval) */
  targetDuration: number;
  /** seconds: the fragment duration ffmpeg is asked for (-frag_duration), 0.2 by default */
  nominalPart?: number;
  /** seconds a segment must reach before an independent part may start the next one; 0.5 × TD by default */
  minSegment?: number;
  /** complete segments kept in the playlist, 7 by default (Apple: ≥ 6) */
  windowSegments?: number;
  /**
   * bytes an open segment may hold (its parts are kept until it is complete), 64 MiB by default:
   * a stream whose IDRs stop coming fails its run instead of growing without bound
   */
  maxSegmentBytes?: number;
}

const PREFIX = /^[A-Za-z0-9_-]{1,40}$/;

export function llConstants(options: LlSessionOptions): LlConstants {
  const problems: string[] = [];
  const nominal = options.nominalPart ?? 0.2;
  const td = options.targetDuration;
  if (!PREFIX.test(options.prefix)) problems.push('prefix must be 1–40 letters, digits, "_" or "-"');
  if (!Number.isInteger(td) || td < 1 || td > 10) problems.push('targetDuration must be a whole number of seconds from 1 to 10');
  if (!(nominal >= 0.1 && nominal <= 1)) problems.push('nominalPart must be between 0.1 and 1 s');
  const minSegment = options.minSegment ?? td * 0.5;
  if (!(minSegment > 0 && minSegment <= td)) problems.push('minSegment must be above 0 and at most targetDuration');
  const windowSegments = options.windowSegments ?? 7;
  if (!Number.isInteger(windowSegments) || windowSegments < 6) problems.push('windowSegments must be a whole number ≥ 6');
  const maxSegmentBytes = options.maxSegmentBytes ?? 64 * 1024 * 1024;
  if (!Number.isInteger(maxSegmentBytes) || maxSegmentBytes < 1024) problems.push('maxSegmentBytes must be a whole number ≥ 1024');
  if (problems.length) throw badRequest(`Low-latency session settings: ${problems.join('; ')}.`);
  // rounded down: rounding up (0.236 for 0.2) would put every nominal 200 ms part under 85 %
  const partTarget = Math.floor((nominal / 0.85) * 1000) / 1000;
  return {
    prefix: options.prefix,
    targetDuration: td,
    partTarget,
    partHoldBack: Math.round(3 * partTarget * 1000) / 1000,
    minSegment,
    windowSegments,
    maxSegmentBytes,
  };
}

export class LlSession implements SessionLink {
  readonly constants: LlConstants;
  /** per ffmpeg run: which wall-clock instant a media time of that run stands for */
  private readonly anchors = new Map<number, { media: number; wallMs: number }>();
  private readonly renditions: RenditionPackager[] = [];
  private readonly runFirstMsn = new Map<number, number>();
  /** recent segment durations by MSN (the longest rung's), for other rungs' GAP segments */
  private readonly durations = new Map<number, number>();

  constructor(options: LlSessionOptions) {
    this.constants = llConstants(options);
  }

  /** A packager for one rendition; `name` is only used in error messages and rendition reports. */
  rendition(name: string): RenditionPackager {
    const packager = new RenditionPackager({ name, constants: this.constants, clock: this });
    this.renditions.push(packager);
    return packager;
  }

  /**
   * The first MSN of run `run`, the same for every rendition: the highest next MSN among them when
   * the first one opens a segment of that run. This relies on the caller ending every rendition's
   * previous run (endRun when its pipe closes) before the new ffmpeg's output arrives, which one
   * ffmpeg per stream gives naturally.
   */
  firstMsnOfRun(run: number): number {
    let msn = this.runFirstMsn.get(run);
    if (msn === undefined) {
      msn = Math.max(...this.renditions.map((r) => r.nextMediaSequence));
      this.runFirstMsn.set(run, msn);
    }
    return msn;
  }

  noteSegment(msn: number, duration: number): void {
    this.durations.set(msn, Math.max(duration, this.durations.get(msn) ?? 0));
    this.durations.delete(msn - 64);
  }

  durationOf(msn: number): number | undefined {
    return this.durations.get(msn);
  }

  /**
   * The wall-clock time (ms) of media time `media` in run `run`. The first rendition to ask in a
   * run fixes the anchor: a part reaches the packager about when its last frame was produced, so
   * the end of that first part is taken to be `nowMs`. Later renditions reuse it, so the same
   * instant gets the same PROGRAM-DATE-TIME in every playlist.
   */
  wallClock(options: { run: number; media: number; anchorMedia: number; nowMs: number; notBeforeMs: number }): number {
    let anchor = this.anchors.get(options.run);
    if (!anchor) {
      // a run fed faster than real time (a backlog after a restart) must not start before the
      // previous run's media ended: PROGRAM-DATE-TIME never goes backwards
      const floor = options.notBeforeMs + (options.anchorMedia - options.media) * 1000;
      anchor = { media: options.anchorMedia, wallMs: Math.max(options.nowMs, floor) };
      this.anchors.set(options.run, anchor);
      for (const run of this.anchors.keys()) if (run < options.run - 1) this.anchors.delete(run);
    }
    return Math.round(anchor.wallMs + (options.media - anchor.media) * 1000);
  }
}
