// bench:glass's figures from the players' reports (pure, unit-tested): latency percentiles over
// the measurement window, stalls per minute, fatal errors, the renditions played, and the
// verdicts against the targets.
import type { Pin, PlayerReport } from './glass-player.js';

export type SideName = 'standard' | 'll' | 'nginx-rtmp';

export interface Window {
  from: number; // wall-clock ms
  to: number;
}

export interface Figures {
  frames: number;
  rejected: number;
  p50: number | null; // seconds
  p90: number | null;
  p99: number | null;
  max: number | null;
  stallsPerMinute: number; // video waiting events in the window
  bufferStalledPerMinute: number; // hls.js bufferStalledError in the window
  fatalErrors: string[];
  renditions: Record<string, number>; // picture height → share of frames
  minutes: number;
  /** Frames read per second of the window, per viewer: below ~27 of the source's 30 the viewer (or the machine) was starved. */
  fpsShown: number;
}

/** The q-quantile (nearest rank) of sorted values. */
export function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const sec = (ms: number | null) => (ms === null ? null : Math.round(ms) / 1000);

/** Figures of one or more players' reports (pooled), each over its own measurement window. */
export function figures(parts: { report: PlayerReport; window: Window }[]): Figures {
  const lat: number[] = [];
  const heights: Record<string, number> = {};
  let rejected = 0;
  let waiting = 0;
  let stalled = 0;
  let minutes = 0;
  const fatalErrors: string[] = [];
  for (const { report, window } of parts) {
    const inWin = (t: number) => t >= window.from && t < window.to;
    for (const [t, l, h] of report.samples) {
      if (!inWin(t)) continue;
      lat.push(l);
      heights[`${h}p`] = (heights[`${h}p`] ?? 0) + 1;
    }
    rejected += report.rejected;
    waiting += report.waiting.filter(inWin).length;
    stalled += report.stalled.filter(inWin).length;
    minutes += (window.to - window.from) / 60_000;
    for (const e of report.errors) if (e.fatal) fatalErrors.push(e.details);
  }
  lat.sort((a, b) => a - b);
  const total = lat.length;
  return {
    frames: total,
    rejected,
    p50: sec(quantile(lat, 0.5)),
    p90: sec(quantile(lat, 0.9)),
    p99: sec(quantile(lat, 0.99)),
    max: sec(total ? lat[total - 1]! : null),
    stallsPerMinute: minutes > 0 ? Math.round((waiting / minutes) * 100) / 100 : 0,
    bufferStalledPerMinute: minutes > 0 ? Math.round((stalled / minutes) * 100) / 100 : 0,
    fatalErrors,
    renditions: Object.fromEntries(Object.entries(heights).map(([k, n]) => [k, Math.round((n / total) * 1000) / 1000])),
    minutes: Math.round(minutes * 100) / 100,
    fpsShown: minutes > 0 ? Math.round((total / (minutes * 60)) * 10) / 10 : 0,
  };
}

/** 90 % of the source's 30 fps: below it a viewer was starved of CPU or of media, and its latency says little. */
export const MIN_FPS_SHOWN = 27;

export interface Verdict {
  what: string;
  met: boolean | null; // null: not measured (side not available, no frames)
  detail: string;
}

/** The targets for one GOP: standard (ABR auto) ≤ 1.0 × nginx-rtmp; LL p50 ≤ 1.5 s (2 s GOP) / 1.0 s (1 s GOP), ≤ 1 stall/min, no fatal error. */
export function verdicts(o: { gopSeconds: number; standardAuto: Figures | null; peer: Figures | null; ll: Partial<Record<Pin, Figures>> | null }): Verdict[] {
  const out: Verdict[] = [];
  const s = o.standardAuto;
  const p = o.peer;
  if (s?.p50 != null && p?.p50 != null) {
    const ratio = Math.round((s.p50 / p.p50) * 100) / 100;
    const what = `GOP ${o.gopSeconds} s: standard (ABR auto) / nginx-rtmp p50 ≤ 1.0`;
    const detail = `${s.p50.toFixed(2)} s / ${p.p50.toFixed(2)} s = ${ratio.toFixed(2)}`;
    // a starved viewer sits at the live edge and stalls: its low latency is no win, so no verdict
    const starved = [s, p].filter((f) => f.fpsShown < MIN_FPS_SHOWN);
    if (starved.length) out.push({ what, met: null, detail: `${detail}, not judged: a viewer was starved (${starved.map((f) => f.fpsShown).join(', ')} fps shown of 30; the machine is too busy)` });
    else out.push({ what, met: ratio <= 1.0, detail });
  } else if (s === null || p === null) {
    out.push({ what: `GOP ${o.gopSeconds} s: standard / nginx-rtmp`, met: null, detail: 'one side was not measured in this run' });
  } else {
    // a side that served the stream but whose viewers read no frame: the bench is broken, not n/a
    out.push({ what: `GOP ${o.gopSeconds} s: standard / nginx-rtmp`, met: false, detail: 'a side served the stream but no frame was read off its video' });
  }
  const limit = o.gopSeconds <= 1 ? 1.0 : 1.5;
  if (o.ll === null) {
    out.push({ what: `GOP ${o.gopSeconds} s: LL p50 ≤ ${limit} s`, met: null, detail: 'LL mode not available' });
    return out;
  }
  for (const [pin, f] of Object.entries(o.ll) as [Pin, Figures][]) {
    if (f.p50 === null) {
      out.push({ what: `GOP ${o.gopSeconds} s: LL ${pin}`, met: false, detail: 'no frame was read' });
      continue;
    }
    const ok = f.p50 <= limit && f.stallsPerMinute <= 1 && f.fatalErrors.length === 0;
    out.push({
      what: `GOP ${o.gopSeconds} s: LL ${pin} p50 ≤ ${limit} s, ≤ 1 stall/min, no fatal error`,
      met: ok,
      detail: `p50 ${f.p50.toFixed(2)} s, ${f.stallsPerMinute} stalls/min, ${f.fatalErrors.length} fatal`,
    });
  }
  return out;
}
