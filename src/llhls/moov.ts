// What the packager needs from the init section's moov: per track id, the handler (vide/soun), the
// media timescale, the trex defaults that moof boxes fall back on, the edit-list shift that turns
// composition time into presentation time, the RFC 6381 codec string for the master playlist's
// CODECS, and the picture size.
import { Mp4FormatError } from './errors.js';
import { Reader, child, children, descend, requireChild } from './mp4-read.js';

export interface TrackDefaults {
  sampleDuration: number;
  sampleSize: number;
  sampleFlags: number;
}

export interface TrackInfo {
  trackId: number;
  handler: string; // 'vide' | 'soun' | …
  timescale: number;
  defaults: TrackDefaults;
  /** the first non-empty edit's media_time (media timescale): presentation = composition − this */
  editShift: number;
  /** e.g. 'avc1.64001f', 'mp4a.40.2'; null for a sample entry this reader does not know */
  codec: string | null;
  width?: number;
  height?: number;
}

export interface InitInfo {
  tracks: Map<number, TrackInfo>;
  /** the video track (the one part durations come from), if any */
  video?: TrackInfo;
}

export function readMoov(moovBody: Buffer): InitInfo {
  const tracks = new Map<number, TrackInfo>();
  const trexes = new Map<number, TrackDefaults>();
  for (const box of children(moovBody, 'moov')) {
    if (box.type === 'trak') {
      const t = readTrak(box.body);
      tracks.set(t.trackId, t);
    } else if (box.type === 'mvex') {
      for (const c of children(box.body, 'mvex')) {
        if (c.type !== 'trex') continue;
        const r = new Reader(c.body, 'trex');
        r.fullBox();
        const trackId = r.u32();
        r.u32(); // default_sample_description_index
        trexes.set(trackId, { sampleDuration: r.u32(), sampleSize: r.u32(), sampleFlags: r.u32() });
      }
    }
  }
  if (tracks.size === 0) throw new Mp4FormatError('malformed', 'The moov box has no track.');
  for (const t of tracks.values()) t.defaults = trexes.get(t.trackId) ?? t.defaults;
  const video = [...tracks.values()].find((t) => t.handler === 'vide');
  return { tracks, video };
}

function readTrak(body: Buffer): TrackInfo {
  const tkhd = new Reader(requireChild(body, 'trak', 'tkhd').body, 'tkhd');
  const { version } = tkhd.fullBox();
  tkhd.skip(version === 1 ? 16 : 8); // creation, modification time
  const trackId = tkhd.u32();
  tkhd.skip(4 + (version === 1 ? 8 : 4) + 8 + 8 + 36); // reserved, duration, reserved, layer…volume, matrix
  const width = tkhd.u32() / 65536;
  const height = tkhd.u32() / 65536;

  const mdia = requireChild(body, 'trak', 'mdia').body;
  const mdhd = new Reader(requireChild(mdia, 'mdia', 'mdhd').body, 'mdhd');
  const mdhdVersion = mdhd.fullBox().version;
  mdhd.skip(mdhdVersion === 1 ? 16 : 8);
  const timescale = mdhd.u32();
  if (timescale === 0) throw new Mp4FormatError('malformed', `Track ${trackId} has a timescale of 0.`);
  const hdlr = new Reader(requireChild(mdia, 'mdia', 'hdlr').body, 'hdlr');
  hdlr.fullBox();
  hdlr.u32(); // pre_defined
  const handler = hdlr.fourcc();

  const stsd = descend(mdia, 'mdia', ['minf', 'stbl', 'stsd']);
  const entry = children(stsd.body, 'stsd', 8)[0]; // after version/flags and entry_count
  const codec = entry ? codecString(entry.type, entry.body, handler) : null;
  const track: TrackInfo = {
    trackId,
    handler,
    timescale,
    defaults: { sampleDuration: 0, sampleSize: 0, sampleFlags: 0 },
    editShift: readEditShift(body),
    codec,
  };
  if (handler === 'vide') {
    track.width = Math.round(width);
    track.height = Math.round(height);
  }
  return track;
}

function readEditShift(trak: Buffer): number {
  const edts = child(trak, 'trak', 'edts');
  const elst = edts && child(edts.body, 'edts', 'elst');
  if (!elst) return 0;
  const r = new Reader(elst.body, 'elst');
  const { version } = r.fullBox();
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    if (version === 1) r.skip(8);
    else r.skip(4);
    const mediaTime = version === 1 ? r.i64() : r.i32();
    r.skip(4); // media_rate
    if (mediaTime >= 0) return mediaTime; // -1 is an empty edit (a delay, not used by ffmpeg's fMP4)
  }
  return 0;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** RFC 6381 codec strings: avc1.PPCCLL from avcC, mp4a.40.N from esds. */
function codecString(entryType: string, entry: Buffer, handler: string): string | null {
  if (entryType === 'avc1' || entryType === 'avc3') {
    // VisualSampleEntry: 78 bytes of fixed fields before its child boxes
    const avcC = findIn(entry, 78, entryType, 'avcC');
    if (!avcC) throw new Mp4FormatError('malformed', `The ${entryType} sample entry has no avcC box.`);
    const r = new Reader(avcC.body, 'avcC');
    r.u8(); // configurationVersion
    return `${entryType}.${hex2(r.u8())}${hex2(r.u8())}${hex2(r.u8())}`;
  }
  if (entryType === 'mp4a' && handler === 'soun') {
    const esds = findIn(entry, 28, 'mp4a', 'esds');
    if (!esds) return 'mp4a.40.2';
    return `mp4a.40.${audioObjectType(esds.body)}`;
  }
  return null;
}

function findIn(entry: Buffer, fixed: number, what: string, type: string) {
  if (entry.length < fixed) throw new Mp4FormatError('malformed', `The ${what} sample entry is too short.`);
  return children(entry, what, fixed).find((c) => c.type === type);
}

/** esds → ES_Descriptor → DecoderConfigDescriptor → DecoderSpecificInfo → audioObjectType */
function audioObjectType(esds: Buffer): number {
  const r = new Reader(esds, 'esds');
  r.fullBox();
  const descriptor = () => {
    const tag = r.u8();
    let size = 0;
    for (let i = 0; i < 4; i++) {
      const b = r.u8();
      size = (size << 7) | (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    return { tag, size };
  };
  if (descriptor().tag !== 3) throw new Mp4FormatError('malformed', 'The esds box has no ES_Descriptor.');
  r.u16(); // ES_ID
  const flags = r.u8();
  if (flags & 0x80) r.u16();
  if (flags & 0x40) r.skip(r.u8());
  if (flags & 0x20) r.u16();
  if (descriptor().tag !== 4) throw new Mp4FormatError('malformed', 'The esds box has no DecoderConfigDescriptor.');
  r.skip(13); // objectTypeIndication … avgBitrate
  if (descriptor().tag !== 5) return 2; // no AudioSpecificConfig: assume AAC-LC
  const first = r.u8();
  const aot = first >> 3;
  if (aot !== 31) return aot;
  return 32 + (((first & 0x07) << 3) | (r.u8() >> 5));
}
