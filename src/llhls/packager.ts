// One rendition's LL-HLS packager: a fragmented-MP4 byte stream (one ffmpeg output pipe) in,
// files and playlist state out. Pure: no I/O, no timers; the caller passes the wall clock.
//
//   ftyp+moov            → init file (a new name per ffmpeg run)
//   moof+mdat            → one part; INDEPENDENT when its first video sample is a sync sample
//   an independent part whose presentation start is ≥ minSegment (less half a frame) after the
//   open segment's start → the open segment is complete: its file is the concatenation of its parts
//
// Cutting by presentation time relative to the segment start, with half a frame of tolerance, makes
// every rung of a ladder whose IDRs are aligned (copy rung + x264 -force_key_frames source) cut at
// the same IDRs, even when a rung is one frame off (publisher B-frames, LL-HLS-NOTES §2.2).
import { BoxSplitter, type Mp4Box } from './mp4-boxes.js';
import { Mp4FormatError } from './errors.js';
import { describeFragment, type FragmentInfo } from './fragment.js';
import { readMoov, type InitInfo } from './moov.js';
import { fileNames } from './names.js';
import { Window } from './window.js';
import type { LlConstants, LlFile, PartInfo, RenditionReport, RenditionState, SegmentInfo, WallClock } from './types.js';

export interface PushResult {
  /** to write (atomically, in this order) before the next playlist is rendered */
  files: LlFile[];
  /** the stream is malformed: this run yields nothing more; call endRun() when its pipe closes */
  error?: Mp4FormatError;
}

/** Measured over the session's complete segments (the master playlist's BANDWIDTH and friends). */
export interface RenditionStats {
  segments: number;
  peakBitsPerSecond: number;
  averageBitsPerSecond: number;
  framesPerSecond: number;
  codecs: string[];
  width?: number;
  height?: number;
  /** parts longer than PART-TARGET (ffmpeg was asked for shorter ones; should stay 0) */
  overlongParts: number;
  /** segments whose rounded duration is above TARGETDURATION (a GOP longer than TD was fixed from) */
  overlongSegments: number;
  /** parts before the first independent one of a run (cannot start a segment) */
  droppedParts: number;
}

export class RenditionPackager {
  readonly name: string;
  private readonly c: LlConstants;
  private readonly clock: WallClock;
  private readonly window: Window;
  private splitter = new BoxSplitter();
  private run = 0;
  private runFailed: Mp4FormatError | null = null;
  private ftyp: Buffer | null = null;
  private init: { info: InitInfo; name: string } | null = null;
  private moof: Mp4Box | null = null;
  private open: { seg: SegmentInfo; bytes: Buffer[] } | null = null;
  private anchorMedia: number | null = null;
  private hadSegments = false;
  private runHasSegment = false;
  /** PROGRAM-DATE-TIME of the end of the last complete segment: the next run starts no earlier */
  private wallEndMs = 0;
  private nextMsn = 1; // hls.js ≤ 1.7.1 mishandles MSN 0 (notes §1.2)
  private nextSeq = 1;
  private ended = false;
  private stats = { bytes: 0, seconds: 0, peak: 0, segments: 0, overlongSegments: 0, overlong: 0, dropped: 0 };

  constructor(options: { name: string; constants: LlConstants; clock: WallClock }) {
    this.name = options.name;
    this.c = options.constants;
    this.clock = options.clock;
    this.window = new Window(this.c);
  }

  /** Bytes from the current run's pipe. Never throws for bad media: see PushResult.error. */
  push(chunk: Uint8Array, nowMs: number): PushResult {
    if (this.ended) return { files: [], error: new Mp4FormatError('unexpected', `Rendition ${this.name} has ended.`) };
    if (this.runFailed) return { files: [], error: this.runFailed };
    const files: LlFile[] = [];
    try {
      for (const box of this.splitter.push(chunk)) this.onBox(box, nowMs, files);
    } catch (err) {
      this.runFailed = asFormatError(err);
      return { files, error: this.runFailed };
    }
    return { files };
  }

  /**
   * The run's pipe closed (ffmpeg exited or is being restarted): the open segment is complete as it
   * is. The next push() starts a new run: new init name, EXT-X-DISCONTINUITY, MSN continuing.
   */
  endRun(nowMs: number): PushResult {
    let error = this.runFailed ?? undefined;
    if (!error) {
      try {
        this.splitter.end();
      } catch (err) {
        error = asFormatError(err);
      }
    }
    const files: LlFile[] = [];
    this.closeOpen(nowMs, files);
    this.splitter = new BoxSplitter();
    this.runFailed = null;
    this.ftyp = null;
    this.init = null;
    this.moof = null;
    this.anchorMedia = null;
    this.runHasSegment = false;
    return error ? { files, error } : { files };
  }

  /** The publish is over: closes the run; the playlist gets EXT-X-ENDLIST and no preload hint. */
  end(nowMs: number): PushResult {
    if (this.ended) return { files: [] };
    const result = this.endRun(nowMs);
    this.ended = true;
    return result;
  }

  /** Files that left the playlist at least 3 target durations ago: safe to delete now. */
  expired(nowMs: number): string[] {
    return this.window.expired(nowMs);
  }

  state(): RenditionState {
    const segments = [...this.window.segments];
    if (this.open) segments.push({ ...this.open.seg, parts: [...this.open.seg.parts] });
    return {
      name: this.name,
      constants: this.c,
      segments,
      discontinuitySequence: this.window.discontinuitySequence,
      partsFromMsn: this.window.partsFromMsn,
      nextPartName: fileNames.part(this.c.prefix, this.nextSeq),
      ended: this.ended,
    };
  }

  /** LAST-MSN / LAST-PART for other renditions' EXT-X-RENDITION-REPORT; null before the first part. */
  report(): RenditionReport | null {
    const last = this.open?.seg ?? this.window.segments.at(-1);
    if (!last || last.parts.length === 0) return null;
    return { lastMsn: last.msn, lastPart: last.parts.length - 1 };
  }

  measured(): RenditionStats {
    const s = this.stats;
    const tracks = this.lastInit ? [...this.lastInit.tracks.values()] : [];
    return {
      segments: s.segments,
      peakBitsPerSecond: Math.round(s.peak),
      averageBitsPerSecond: s.seconds > 0 ? Math.round((s.bytes * 8) / s.seconds) : 0,
      framesPerSecond: median(this.partRates),
      codecs: tracks.map((t) => t.codec).filter((x): x is string => x !== null),
      width: this.lastInit?.video?.width,
      height: this.lastInit?.video?.height,
      overlongParts: s.overlong,
      overlongSegments: s.overlongSegments,
      droppedParts: s.dropped,
    };
  }

  private lastInit: InitInfo | null = null;
  private readonly partRates: number[] = [];

  private onBox(box: Mp4Box, nowMs: number, files: LlFile[]): void {
    const body = box.bytes.subarray(box.headerSize);
    switch (box.type) {
      case 'ftyp':
        if (this.init) throw new Mp4FormatError('unexpected', `A second init section arrived in one run of rendition ${this.name}.`);
        this.ftyp = box.bytes;
        return;
      case 'moov': {
        if (!this.ftyp || this.init) throw new Mp4FormatError('unexpected', `A moov box without a preceding ftyp in rendition ${this.name}.`);
        const info = readMoov(body);
        this.run += 1;
        this.init = { info, name: fileNames.init(this.c.prefix, this.run) };
        this.lastInit = info;
        files.push({ kind: 'init', name: this.init.name, bytes: Buffer.concat([this.ftyp, box.bytes]), run: this.run });
        return;
      }
      case 'moof':
        if (!this.init) throw new Mp4FormatError('unexpected', `A moof box before the init section in rendition ${this.name}.`);
        if (this.moof) throw new Mp4FormatError('unexpected', `Two moof boxes without an mdat in rendition ${this.name}.`);
        this.moof = box;
        return;
      case 'mdat': {
        const moof = this.moof;
        if (!moof || !this.init) throw new Mp4FormatError('unexpected', `An mdat box without its moof in rendition ${this.name}.`);
        this.moof = null;
        const info = describeFragment(moof.bytes.subarray(moof.headerSize), this.init.info);
        this.onPart(info, Buffer.concat([moof.bytes, box.bytes]), nowMs, files);
        return;
      }
      default:
        return; // styp, sidx, prft, free, … carry nothing a part needs
    }
  }

  private onPart(info: FragmentInfo, bytes: Buffer, nowMs: number, files: LlFile[]): void {
    if (!this.open && !info.independent) {
      this.stats.dropped += 1; // a segment must start with an IDR
      return;
    }
    if (this.open && info.independent && info.start - this.open.seg.start >= this.c.minSegment - info.halfFrame) {
      this.closeOpen(nowMs, files);
    }
    if (info.duration > this.c.partTarget + 1e-9) this.stats.overlong += 1;
    if (info.frames > 1 && info.duration > 0) {
      // per-part rates, median of the recent ones: the stretched first frame of a run and FLV's
      // 33/34 ms jitter would skew a plain frames/seconds
      this.partRates.push(info.frames / info.duration);
      if (this.partRates.length > 64) this.partRates.shift();
    }
    if (!this.open) this.openSegment(info, nowMs);
    const open = this.open!;
    const part: PartInfo = {
      seq: this.nextSeq,
      name: fileNames.part(this.c.prefix, this.nextSeq),
      index: open.seg.parts.length,
      duration: info.duration,
      start: info.start,
      independent: info.independent,
      size: bytes.length,
    };
    this.nextSeq += 1;
    open.seg.parts.push(part);
    open.seg.duration += info.duration;
    open.seg.size += bytes.length;
    open.bytes.push(bytes);
    files.push({ kind: 'part', name: part.name, bytes, msn: open.seg.msn, part });
    this.window.update(this.open?.seg ?? null, nowMs);
  }

  private openSegment(info: FragmentInfo, nowMs: number): void {
    if (this.anchorMedia === null) this.anchorMedia = info.start + info.duration;
    const msn = this.nextMsn;
    this.nextMsn += 1;
    const seg: SegmentInfo = {
      msn,
      name: fileNames.segment(this.c.prefix, msn),
      init: this.init!.name,
      discontinuity: this.hadSegments && !this.runHasSegment,
      wallClockMs: this.clock.wallClock({ run: this.run, media: info.start, anchorMedia: this.anchorMedia, nowMs, notBeforeMs: this.wallEndMs }),
      start: info.start,
      duration: 0,
      parts: [],
      size: 0,
      complete: false,
    };
    this.hadSegments = true;
    this.runHasSegment = true;
    this.open = { seg, bytes: [] };
  }

  private closeOpen(nowMs: number, files: LlFile[]): void {
    if (!this.open) return;
    const { seg, bytes } = this.open;
    this.open = null;
    const done: SegmentInfo = { ...seg, complete: true };
    files.push({ kind: 'segment', name: done.name, bytes: Buffer.concat(bytes, done.size), segment: done });
    const s = this.stats;
    s.segments += 1;
    s.bytes += done.size;
    s.seconds += done.duration;
    // EXTINF rounded must not exceed TARGETDURATION (RFC 8216bis §4.4.3.1): only an irregular
    // publisher GOP longer than the one TD was fixed from can cause it; counted for the caller to log
    if (Math.round(done.duration) > this.c.targetDuration) s.overlongSegments += 1;
    if (done.duration > 0) s.peak = Math.max(s.peak, (done.size * 8) / done.duration);
    this.wallEndMs = Math.max(this.wallEndMs, done.wallClockMs + Math.round(done.duration * 1000));
    this.window.add(done, nowMs);
    this.window.update(null, nowMs);
  }
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function asFormatError(err: unknown): Mp4FormatError {
  if (err instanceof Mp4FormatError) return err;
  // Buffer reads are bounds-checked, but a RangeError from a missed check must not crash the worker
  if (err instanceof RangeError) return new Mp4FormatError('malformed', `Malformed MP4 data (${err.message}).`);
  throw err;
}
