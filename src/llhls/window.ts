// The playlist window of one rendition: which complete segments are listed, which of them still
// list their parts (the last ~3 target durations, RFC 8216bis §6.2.2), and which files left the
// playlist long enough ago (≥ 3 target durations, §6.2.2: clients may still fetch them until then)
// to be deleted.
import type { LlConstants, SegmentInfo } from './types.js';

export class Window {
  readonly segments: SegmentInfo[] = [];
  discontinuitySequence = 0;
  partsFromMsn = 1;
  private partsRetiredBelow = 1;
  private readonly retired: { name: string; atMs: number }[] = [];

  constructor(private readonly c: LlConstants) {}

  /** A segment was completed. The oldest one leaves when the window is over its size. */
  add(seg: SegmentInfo, nowMs: number): void {
    this.segments.push(seg);
    while (this.segments.length > this.c.windowSegments) {
      const old = this.segments[0]!;
      this.retirePartsBelow(old.msn + 1, nowMs);
      this.segments.shift();
      if (!old.gap) this.retired.push({ name: old.name, atMs: nowMs }); // a gap's file was never written
      // inits only move forward: once the first listed segment uses a later one, the old one is unused
      if (this.segments[0]!.init !== old.init) this.retired.push({ name: old.init, atMs: nowMs });
      if (old.discontinuity) this.discontinuitySequence += 1;
      this.partsFromMsn = Math.max(this.partsFromMsn, this.segments[0]!.msn);
    }
  }

  /** After every part: segments starting more than 3 TD before the live edge stop listing parts. */
  update(open: SegmentInfo | null, nowMs: number): void {
    const limit = 3 * this.c.targetDuration + 1e-6;
    let fromEdge = open ? open.duration : 0;
    let from = open ? open.msn : this.partsFromMsn;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const seg = this.segments[i]!;
      fromEdge += seg.duration;
      if (fromEdge > limit) break;
      from = seg.msn;
    }
    if (from > this.partsFromMsn) {
      this.retirePartsBelow(from, nowMs);
      this.partsFromMsn = from;
    }
  }

  /** Names retired at least 3 target durations before `nowMs`; each is returned once. */
  expired(nowMs: number): string[] {
    const before = nowMs - 3 * this.c.targetDuration * 1000;
    const out: string[] = [];
    while (this.retired.length > 0 && this.retired[0]!.atMs <= before) out.push(this.retired.shift()!.name);
    return out;
  }

  private retirePartsBelow(msn: number, nowMs: number): void {
    for (const seg of this.segments) {
      if (seg.msn < this.partsRetiredBelow || seg.msn >= msn) continue;
      for (const part of seg.parts) this.retired.push({ name: part.name, atMs: nowMs });
    }
    this.partsRetiredBelow = Math.max(this.partsRetiredBelow, msn);
  }
}
