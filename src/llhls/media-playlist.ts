// Renders one rendition's LL-HLS media playlist from the packager's state. Pure: the same state and
// reports give the same text, so the origin can render once per part and share the text (and its
// gzip) among all waiting viewers. URIs are the file names, relative to the playlist.
import type { RenditionReport, RenditionState, SegmentInfo } from './types.js';

export interface OtherRendition extends RenditionReport {
  /** the other rendition's playlist, relative to this one, e.g. '../720p/index.m3u8' */
  uri: string;
}

/**
 * EXT-X-MAP in a playlist without EXT-X-I-FRAMES-ONLY needs version 6 (RFC 8216bis §7); the LL
 * tags (PART-INF, PART, PRELOAD-HINT, RENDITION-REPORT, SERVER-CONTROL) need no higher version.
 * Version 9 would only be needed for EXT-X-SKIP (delta updates), which is not offered.
 */
export const MEDIA_PLAYLIST_VERSION = 6;

const seconds = (s: number) => s.toFixed(5);
const quoted = (s: string) => `"${s}"`;

export function renderMediaPlaylist(options: { state: RenditionState; others: OtherRendition[] }): string {
  const { state, others } = options;
  const c = state.constants;
  const first = state.segments[0];
  const lines = [
    '#EXTM3U',
    `#EXT-X-VERSION:${MEDIA_PLAYLIST_VERSION}`,
    `#EXT-X-TARGETDURATION:${c.targetDuration}`,
    // once ended, blocking has nothing to wait for (and Apple's player refuses CAN-BLOCK-RELOAD with
    // ENDLIST, per Kaltura's nginx-pckg-module); PART-HOLD-BACK itself never changes
    `#EXT-X-SERVER-CONTROL:${state.ended ? '' : 'CAN-BLOCK-RELOAD=YES,'}PART-HOLD-BACK=${c.partHoldBack.toFixed(3)}`,
    `#EXT-X-PART-INF:PART-TARGET=${c.partTarget.toFixed(3)}`,
    `#EXT-X-MEDIA-SEQUENCE:${first ? first.msn : 1}`,
  ];
  if (state.discontinuitySequence > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${state.discontinuitySequence}`);
  let map: string | null = null;
  for (const seg of state.segments) {
    if (seg.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    if (seg.init !== map) {
      lines.push(`#EXT-X-MAP:URI=${quoted(seg.init)}`);
      map = seg.init;
    }
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(seg.wallClockMs).toISOString()}`);
    if (seg.msn >= state.partsFromMsn || !seg.complete) lines.push(...partLines(seg));
    if (seg.gap) lines.push('#EXT-X-GAP');
    if (seg.complete) lines.push(`#EXTINF:${seconds(seg.duration)},`, seg.name);
  }
  if (state.ended) {
    lines.push('#EXT-X-ENDLIST');
  } else {
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI=${quoted(state.nextPartName)}`);
  }
  for (const other of others) {
    lines.push(`#EXT-X-RENDITION-REPORT:URI=${quoted(other.uri)},LAST-MSN=${other.lastMsn},LAST-PART=${other.lastPart}`);
  }
  return lines.join('\n') + '\n';
}

function partLines(seg: SegmentInfo): string[] {
  return seg.parts.map(
    (p) => `#EXT-X-PART:DURATION=${seconds(p.duration)},URI=${quoted(p.name)}${p.independent ? ',INDEPENDENT=YES' : ''}`,
  );
}
