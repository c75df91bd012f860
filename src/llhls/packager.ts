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
import { StatsCollector, type RenditionStats } from './rendition-stats.js';
import type { LlConstants, LlFile, PartInfo, RenditionReport, RenditionState, SegmentInfo, SessionLink } from './types.js';

export interface PushResult {
  /** to write (atomically, in this order) before the next playlist is rendered */
  files: LlFile[];
  /** the stream is malformed: this run yields nothing more; call endRun() when its pipe closes */
  error?: Mp4FormatError;
}

export class RenditionPackager {
  readonly name: string;
  private readonly c: LlConstants;
  private readonly clock: SessionLink;
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
  private readonly stats: StatsCollector;

  constructor(options: { name: string; constants: LlConstants; clock: SessionLink }) {
    this.name = options.name;
    this.c = options.constants;
    this.clock = options.clock;
    this.window = new Window(this.c);
    this.stats = new StatsCollector(this.c);
  }

  /**
   * Bytes from the current run's pipe. Never throws for bad media: see PushResult.error. The chunk
   * is referenced, not copied, until its boxes are complete: do not reuse its memory (Node's
   * stream chunks are fresh buffers).
   */
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
        if (this.moof) throw new Mp4FormatError('truncated', `The stream of rendition ${this.name} ended between a moof and its mdat.`);
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

  /** BANDWIDTH, CODECS, RESOLUTION, FRAME-RATE for the master playlist, and counters to log. */
  measured(): RenditionStats {
    return this.stats.result();
  }

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
        this.stats.onInit(info);
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
      this.stats.onDroppedPart(); // a segment must start with an IDR
      return;
    }
    if (this.open && info.independent && info.start - this.open.seg.start >= this.c.minSegment - info.halfFrame) {
      this.closeOpen(nowMs, files);
    }
    this.stats.onPart(info);
    if (!this.open) this.openSegment(info, nowMs);
    const open = this.open!;
    if (open.seg.size + bytes.length > this.c.maxSegmentBytes) {
      throw new Mp4FormatError('too_large', `Segment ${open.seg.msn} of rendition ${this.name} passed ${this.c.maxSegmentBytes} bytes (${open.seg.duration.toFixed(1)} s) without a new IDR to cut at.`);
    }
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

  /** The MSN the next segment will get (the session aligns the first one of a run across rungs). */
  get nextMediaSequence(): number {
    return this.nextMsn;
  }

  private openSegment(info: FragmentInfo, nowMs: number): void {
    if (this.anchorMedia === null) this.anchorMedia = info.start + info.duration;
    if (this.hadSegments && !this.runHasSegment) this.fillGaps(nowMs);
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
      gap: false,
    };
    this.hadSegments = true;
    this.runHasSegment = true;
    this.open = { seg, bytes: [] };
  }

  /**
   * Before the first segment of a new run: if another rung completed more segments in the previous
   * run (its pipe delivered one more IDR part before ffmpeg stopped), list GAP segments up to the
   * run's common first MSN, so the same MSN means the same instant in every rung.
   */
  private fillGaps(nowMs: number): void {
    const target = this.clock.firstMsnOfRun(this.run);
    const init = this.window.segments.at(-1)?.init ?? this.init!.name;
    while (this.nextMsn < target) {
      const msn = this.nextMsn;
      this.nextMsn += 1;
      const duration = this.clock.durationOf(msn) ?? this.c.partTarget;
      const gap: SegmentInfo = {
        msn,
        name: fileNames.segment(this.c.prefix, msn),
        init,
        discontinuity: false,
        wallClockMs: this.wallEndMs,
        start: 0,
        duration,
        parts: [],
        size: 0,
        complete: true,
        gap: true,
      };
      this.wallEndMs += Math.round(duration * 1000);
      this.window.add(gap, nowMs);
    }
  }

  private closeOpen(nowMs: number, files: LlFile[]): void {
    if (!this.open) return;
    const { seg, bytes } = this.open;
    this.open = null;
    const done: SegmentInfo = { ...seg, complete: true };
    files.push({ kind: 'segment', name: done.name, bytes: Buffer.concat(bytes, done.size), segment: done });
    this.stats.onSegment(done);
    this.wallEndMs = Math.max(this.wallEndMs, done.wallClockMs + Math.round(done.duration * 1000));
    this.clock.noteSegment(done.msn, done.duration);
    this.window.add(done, nowMs);
    this.window.update(null, nowMs);
  }
}

function asFormatError(err: unknown): Mp4FormatError {
  if (err instanceof Mp4FormatError) return err;
  // Buffer reads are bounds-checked, but a RangeError from a missed check must not crash the worker
  if (err instanceof RangeError) return new Mp4FormatError('malformed', `Malformed MP4 data (${err.message}).`);
  throw err;
}
