// Pure: reads what a publisher sends first (the FLV video/audio sequence headers and the
// onMetaData fields) into the SourceInfo the transcoder plans with. No node-media-server here.
import type { SourceInfo } from '../streams/types.js';

const FLV_TAG_HEADER = 11;

const FLV_VIDEO_CODECS: Record<number, string> = { 2: 'sorenson', 3: 'screen', 4: 'vp6', 5: 'vp6a', 6: 'screen2', 7: 'h264', 12: 'hevc', 13: 'av1' };
const FOURCC_CODECS: Record<string, string> = { avc1: 'h264', hvc1: 'hevc', av01: 'av1', vp09: 'vp9' };
const FLV_AUDIO_CODECS: Record<number, string> = { 0: 'pcm', 1: 'adpcm', 2: 'mp3', 3: 'pcm', 4: 'nellymoser', 5: 'nellymoser', 6: 'nellymoser', 7: 'g711a', 8: 'g711u', 10: 'aac', 11: 'speex', 14: 'mp3' };

export interface PublisherMetadata {
  width?: number;
  height?: number;
  framerate?: number;
  videodatarate?: number;
  audiodatarate?: number;
}

/** Codec and AVC profile from a full FLV video tag (header + data). */
export function parseVideoHeader(tag: Buffer): { codec: string; avcProfile: SourceInfo['avcProfile']; sps: Buffer | null } {
  const data = tag.subarray(FLV_TAG_HEADER);
  if (data.length < 1) return { codec: 'unknown', avcProfile: null, sps: null };
  const exHeader = (data[0]! & 0x80) !== 0; // Enhanced RTMP: a FourCC names the codec
  if (exHeader) {
    const fourcc = data.subarray(1, 5).toString('latin1');
    return { codec: FOURCC_CODECS[fourcc] ?? `fourcc:${fourcc.replace(/[^ -~]/g, '?')}`, avcProfile: null, sps: null };
  }
  const codecId = data[0]! & 0x0f;
  const codec = FLV_VIDEO_CODECS[codecId] ?? `flv:${codecId}`;
  if (codec !== 'h264' || data.length < 11) return { codec, avcProfile: null, sps: null };
  // AVCDecoderConfigurationRecord starts after frame type/codec (1), packet type (1), cts (3)
  const rec = data.subarray(5);
  const avcProfile = { profileIdc: rec[1]!, constraints: rec[2]!, levelIdc: rec[3]! };
  const numSps = rec[5]! & 0x1f;
  let sps: Buffer | null = null;
  if (numSps > 0 && rec.length >= 8) {
    const len = rec.readUInt16BE(6);
    if (rec.length >= 8 + len) sps = rec.subarray(8, 8 + len);
  }
  return { codec, avcProfile, sps };
}

export function parseAudioHeader(tag: Buffer | null): string | null {
  if (!tag || tag.length <= FLV_TAG_HEADER) return null;
  const format = tag[FLV_TAG_HEADER]! >> 4;
  if (format === 9) return 'enhanced'; // Enhanced RTMP audio (Opus, FLAC…): ffmpeg 5.1 cannot read it
  return FLV_AUDIO_CODECS[format] ?? `flv:${format}`;
}

function positive(n: unknown): number | null {
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : null;
}

export function toSourceInfo(o: {
  videoTag: Buffer | null;
  audioTag: Buffer | null;
  metadata: PublisherMetadata;
  parseSps: (sps: Buffer) => { width: number; height: number } | null;
}): SourceInfo {
  const video = o.videoTag ? parseVideoHeader(o.videoTag) : { codec: 'none', avcProfile: null, sps: null };
  let width = positive(o.metadata.width);
  let height = positive(o.metadata.height);
  if (video.sps) {
    // the SPS is what the decoder will see; metadata is only what the encoder claims
    try {
      const dims = o.parseSps(video.sps);
      if (dims && dims.width > 0 && dims.height > 0) ({ width, height } = dims);
    } catch {
      // keep the metadata's numbers
    }
  }
  const fps = positive(o.metadata.framerate);
  const vkbps = positive(o.metadata.videodatarate);
  const akbps = positive(o.metadata.audiodatarate);
  return {
    videoCodec: video.codec,
    audioCodec: parseAudioHeader(o.audioTag),
    width: width === null ? null : Math.round(width),
    height: height === null ? null : Math.round(height),
    fps: fps === null ? null : Math.round(fps * 1000) / 1000,
    videoBitrateKbps: vkbps === null ? null : Math.round(vkbps),
    audioBitrateKbps: akbps === null ? null : Math.round(akbps),
    avcProfile: video.avcProfile,
  };
}
