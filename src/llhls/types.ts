// The packager's data shapes, shared by the packager, the playlist renderers and their callers.

export interface LlConstants {
  prefix: string;
  targetDuration: number;
  /** nominal / 0.85, rounded down to the millisecond (so a nominal part stays ≥ 85 % of it); a one-frame overrun still fits */
  partTarget: number;
  /** 3 × PART-TARGET (RFC: ≥ 2×, SHOULD 3×; Apple: MUST ≥ 3×) */
  partHoldBack: number;
  minSegment: number;
  windowSegments: number;
  maxSegmentBytes: number;
}

/** What a rendition's packager asks of its session (LlSession), so that all rungs agree. */
export interface SessionLink {
  wallClock(options: { run: number; media: number; anchorMedia: number; nowMs: number; notBeforeMs: number }): number;
  /** the MSN every rendition gives the first segment of run `run` (> 1) */
  firstMsnOfRun(run: number): number;
  /** a rendition completed segment `msn` (the longest duration is kept, for other rungs' gaps) */
  noteSegment(msn: number, duration: number): void;
  durationOf(msn: number): number | undefined;
}

/**
 * A file for the caller to write atomically (name.tmp, then rename) before it renders the playlist
 * that lists it. `name` is relative to the rendition's playlist. Parts and segments come with what
 * the origin and analytics need to know about them (the part's MSN and index, the segment's info).
 */
export type LlFile =
  | { kind: 'init'; name: string; bytes: Buffer; run: number }
  | { kind: 'part'; name: string; bytes: Buffer; msn: number; part: PartInfo }
  | { kind: 'segment'; name: string; bytes: Buffer; segment: SegmentInfo };

export interface PartInfo {
  /** session-wide part number (names the file; the preload hint is always the next one) */
  seq: number;
  name: string;
  /** index within its segment (LAST-PART, _HLS_part) */
  index: number;
  duration: number;
  /** presentation time, seconds, in the run's media timeline */
  start: number;
  independent: boolean;
  size: number;
}

export interface SegmentInfo {
  msn: number;
  name: string;
  /** the init section this segment needs (EXT-X-MAP) */
  init: string;
  /** the first segment of a run after an earlier run: EXT-X-DISCONTINUITY */
  discontinuity: boolean;
  /** PROGRAM-DATE-TIME, ms since the epoch */
  wallClockMs: number;
  /** presentation start, seconds, in the run's media timeline */
  start: number;
  /** the sum of its parts' durations */
  duration: number;
  parts: PartInfo[];
  size: number;
  /** false for the segment still receiving parts */
  complete: boolean;
  /**
   * EXT-X-GAP: a placeholder this rung never had (another rung completed one more segment before
   * a restart); keeps MSNs equal across rungs. Its file is never written; players must not fetch it.
   */
  gap: boolean;
}

/** Everything a media playlist is rendered from; a snapshot, safe to keep. */
export interface RenditionState {
  name: string;
  constants: LlConstants;
  /** complete segments in the window, then the open one (complete: false) if any */
  segments: SegmentInfo[];
  /** discontinuities that left the window (EXT-X-DISCONTINUITY-SEQUENCE) */
  discontinuitySequence: number;
  /** segments with msn ≥ this list their EXT-X-PART lines (the last ~3 target durations) */
  partsFromMsn: number;
  /** name of the next part (EXT-X-PRELOAD-HINT) */
  nextPartName: string;
  ended: boolean;
}

/** What EXT-X-RENDITION-REPORT needs about a rendition. */
export interface RenditionReport {
  lastMsn: number;
  lastPart: number;
}
