// bench:relay's arithmetic (pure, unit-tested): the windows of each configuration averaged, the
// cost per destination against the 0-destination baseline, and the noise between repeat windows.
import { round } from './common.js';

export interface Window {
  n: number; // destinations relayed
  ffmpeg: number; // cores (CPU seconds per second) of the worker's ffmpeg
  worker: number; // of the worker's Node process
  nginx: number; // of the destinations' nginx (the load generator's side, not ours)
  other: number; // the rest of the machine meanwhile (noise)
  relayedMbps: number; // the worker's onair_relay_sent_bytes_total over the window
  perDestinationMbps: number[]; // each enabled destination's bytesSent (its row) over the window
}

export interface ConfigurationRow {
  destinations: number;
  ffmpegCores: number;
  workerCores: number;
  /** ffmpeg + worker: what the appliance spends. */
  oursCores: number;
  /** (ours(n) − ours(0)) / n; null at 0. */
  perDestinationCores: number | null;
  perDestinationWorkerCores: number | null;
  perDestinationFfmpegCores: number | null;
  /** perDestinationCores / the ladder's cores (ffmpeg at 0). */
  perDestinationOfLadder: number | null;
  /**
   * The verdict's figure: the worker's and ffmpeg's parts each at least 0. Nothing gets cheaper
   * with more destinations, so a negative part is noise (other load); dropping it can only raise
   * the figure.
   */
  perDestinationBoundCores: number | null;
  perDestinationBoundOfLadder: number | null;
  nginxCores: number;
  relayedMbps: number;
  otherLoadCores: number;
}

export interface RelaySummary {
  ladderCores: number;
  rows: ConfigurationRow[];
  /** Mean |ours(window 1) − ours(window 2)| over the configurations measured twice or more. */
  repeatSpreadCores: number | null;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

export function summarize(windows: Window[], configs: readonly number[]): RelaySummary {
  const by = (n: number) => windows.filter((w) => w.n === n);
  for (const n of [0, ...configs]) if (by(n).length === 0) throw new Error(`no window with ${n} destination(s)`);
  const avg = (n: number, f: (w: Window) => number) => mean(by(n).map(f));
  const ladder = avg(0, (w) => w.ffmpeg);
  const ours = (n: number) => avg(n, (w) => w.ffmpeg + w.worker);
  const per = (n: number, f: (w: Window) => number) => (n === 0 ? null : round((avg(n, f) - avg(0, f)) / n, 4));
  const rows = configs.map((n): ConfigurationRow => {
    const perDest = n === 0 ? null : (ours(n) - ours(0)) / n;
    const bound = n === 0 ? null : (Math.max(0, avg(n, (w) => w.worker) - avg(0, (w) => w.worker)) + Math.max(0, avg(n, (w) => w.ffmpeg) - ladder)) / n;
    return {
      destinations: n,
      ffmpegCores: round(avg(n, (w) => w.ffmpeg), 4),
      workerCores: round(avg(n, (w) => w.worker), 4),
      oursCores: round(ours(n), 4),
      perDestinationCores: perDest === null ? null : round(perDest, 4),
      perDestinationWorkerCores: per(n, (w) => w.worker),
      perDestinationFfmpegCores: per(n, (w) => w.ffmpeg),
      perDestinationOfLadder: perDest === null ? null : round(perDest / ladder, 4),
      perDestinationBoundCores: bound === null ? null : round(bound, 4),
      perDestinationBoundOfLadder: bound === null ? null : round(bound / ladder, 4),
      nginxCores: round(avg(n, (w) => w.nginx), 4),
      relayedMbps: round(avg(n, (w) => w.relayedMbps), 2),
      otherLoadCores: round(avg(n, (w) => w.other), 2),
    };
  });
  const repeated = configs.filter((n) => by(n).length >= 2);
  const oursOf = (w: Window) => w.ffmpeg + w.worker;
  const spread = repeated.length ? mean(repeated.map((n) => Math.abs(oursOf(by(n)[0]!) - oursOf(by(n)[1]!)))) : null;
  return { ladderCores: round(ladder, 4), rows, repeatSpreadCores: spread === null ? null : round(spread, 4) };
}
