// The multivariant (master) playlist of a low-latency ladder: one EXT-X-STREAM-INF per rendition
// with what the packager measured (RFC 8216bis §4.4.6.2): BANDWIDTH = the peak segment bit rate,
// AVERAGE-BANDWIDTH = the mean over the session's segments, CODECS from the init section (avcC,
// esds), RESOLUTION, FRAME-RATE. Audio is muxed into every rendition, so there is no EXT-X-MEDIA.
import type { RenditionStats } from './rendition-stats.js';

export interface Variant {
  /** the rendition's media playlist, relative to the master, e.g. '720p/index.m3u8' */
  uri: string;
  stats: RenditionStats;
}

/** Common rates a measured one is snapped to when within 0.2 % (FLV's 1 ms timestamps jitter). */
const COMMON_RATES = [23.976, 24, 25, 29.97, 30, 48, 50, 59.94, 60];

export function frameRate(measured: number): number {
  let best: number | null = null;
  for (const r of COMMON_RATES) {
    if (Math.abs(measured - r) / r > 0.002) continue;
    if (best === null || Math.abs(measured - r) < Math.abs(measured - best)) best = r;
  }
  return best ?? Math.round(measured * 1000) / 1000;
}

/** null until every rendition has a complete segment (nothing to measure yet: do not publish). */
export function renderMasterPlaylist(variants: Variant[]): string | null {
  if (variants.length === 0 || variants.some((v) => v.stats.segments === 0)) return null;
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS'];
  const ordered = [...variants].sort((a, b) => b.stats.peakBitsPerSecond - a.stats.peakBitsPerSecond);
  for (const { uri, stats } of ordered) {
    const attrs = [`BANDWIDTH=${stats.peakBitsPerSecond}`, `AVERAGE-BANDWIDTH=${stats.averageBitsPerSecond}`];
    if (stats.codecs.length > 0) attrs.push(`CODECS="${stats.codecs.join(',')}"`);
    if (stats.width && stats.height) attrs.push(`RESOLUTION=${stats.width}x${stats.height}`);
    if (stats.framesPerSecond > 0) attrs.push(`FRAME-RATE=${frameRate(stats.framesPerSecond).toFixed(3)}`);
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, uri);
  }
  return lines.join('\n') + '\n';
}
