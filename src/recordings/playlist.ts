// Pure: reads the segments of an HLS media playlist (the live ladder's, or a recording's own) and
// writes a recording's playlists. A recording keeps the ladder's own MPEG-TS segments; its
// playlist is an EVENT playlist while it grows and a VOD playlist once finalised.
import type { Rendition } from '../streams/types.js';

export interface Segment {
  /** The segment's file name (no directory: the ladder and a recording name their own files). */
  name: string;
  seconds: number;
  /** An EXT-X-DISCONTINUITY stands before it (a takeover, a restart, a reconnect). */
  discontinuity: boolean;
}

const SEGMENT_NAME = /^[A-Za-z0-9_.-]+\.ts$/;

/** The segments a media playlist lists, in order; lines that are not plain segment names are skipped. */
export function parseSegments(text: string): Segment[] {
  const out: Segment[] = [];
  let seconds: number | null = null;
  let discontinuity = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXTINF:')) {
      const n = Number.parseFloat(line.slice('#EXTINF:'.length));
      seconds = Number.isFinite(n) && n >= 0 ? n : null;
    } else if (line === '#EXT-X-DISCONTINUITY') {
      discontinuity = true;
    } else if (line && !line.startsWith('#')) {
      if (seconds !== null && SEGMENT_NAME.test(line)) out.push({ name: line, seconds, discontinuity });
      seconds = null;
      discontinuity = false;
    }
  }
  return out;
}

/** Whether the playlist is finished (EXT-X-ENDLIST). */
export function hasEndList(text: string): boolean {
  return /^#EXT-X-ENDLIST\s*$/m.test(text);
}

/**
 * A recording's media playlist: EVENT while it is written (players may watch it grow, nothing is
 * ever removed from it), VOD with EXT-X-ENDLIST once finalised.
 */
export function recordingPlaylist(segments: Segment[], o: { type: 'EVENT' | 'VOD' }): string {
  const target = Math.max(1, ...segments.map((s) => Math.ceil(s.seconds)));
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', `#EXT-X-TARGETDURATION:${target}`, '#EXT-X-MEDIA-SEQUENCE:0', `#EXT-X-PLAYLIST-TYPE:${o.type}`, '#EXT-X-INDEPENDENT-SEGMENTS'];
  segments.forEach((s, i) => {
    // a recording's first segment needs no discontinuity: nothing comes before it
    if (s.discontinuity && i > 0) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXTINF:${s.seconds.toFixed(6)},`, s.name);
  });
  if (o.type === 'VOD') lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}

/** Seconds of media the segments hold. */
export function totalSeconds(segments: Segment[]): number {
  return Math.round(segments.reduce((sum, s) => sum + s.seconds, 0) * 1000) / 1000;
}

/** A rendition as a recording keeps it: the live's, without whether it was passed through. */
export type RecordedRendition = Omit<Rendition, 'passthrough'>;

/** A recording's master playlist: the rungs the live had, tallest first. */
export function recordingMaster(renditions: RecordedRendition[]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const r of renditions) {
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=${r.bandwidth},RESOLUTION=${r.width}x${r.height},CODECS="${r.codecs}",FRAME-RATE=${r.frameRate.toFixed(3)}`,
      `${r.name}/index.m3u8`,
    );
  }
  return lines.join('\n') + '\n';
}
