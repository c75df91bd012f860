// Pure: decides which renditions a source gets and builds the one ffmpeg argv that makes them.
// No I/O here; golden tests pin the exact argv per profile and source shape.
import type { Rendition, SourceInfo } from '../streams/types.js';
import type { Profile, Rung } from './profiles.js';

export interface PlannedRendition extends Rendition {
  rung: Rung;
}

export interface LadderPlan {
  renditions: PlannedRendition[]; // tallest first
  frameRate: number;
  gopFrames: number;
  hasAudio: boolean;
  capFps: boolean; // the source is faster than the profile's maxFps (or unknown): drop frames
}

const H264_HIGH = 0x64;
const AAC_LC = 'mp4a.40.2';

/** Rounds to the nearest even number (H.264 4:2:0 needs even dimensions). */
function even(n: number): number {
  return Math.max(2, Math.round(n / 2) * 2);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function levelIdc(level: string): number {
  return Math.round(Number(level) * 10);
}

export function avc1Codec(profileIdc: number, constraints: number, level: number): string {
  return `avc1.${hex2(profileIdc)}${hex2(constraints)}${hex2(level)}`;
}

/**
 * BANDWIDTH is the peak bit rate of the rendition: the VBV cap (or the source's declared rate
 * for a passthrough) plus audio, plus 10% for MPEG-TS packaging overhead.
 */
function peakBandwidth(videoKbps: number, audioKbps: number): number {
  return Math.round((videoKbps + audioKbps) * 1000 * 1.1);
}

export function planLadder(profile: Profile, source: SourceInfo): LadderPlan {
  const srcW = source.width && source.width > 0 ? source.width : null;
  const srcH = source.height && source.height > 0 ? source.height : null;
  const aspect = srcW && srcH ? srcW / srcH : 16 / 9;
  const knownFps = source.fps && source.fps > 0 ? source.fps : null;
  const frameRate = knownFps ? Math.min(knownFps, profile.maxFps) : 30;
  const roundedFps = Math.round(frameRate * 1000) / 1000;
  const hasAudio = source.audioCodec !== null;
  const audioKbps = hasAudio ? profile.audio.bitrateKbps : 0;
  const audioCodecs = hasAudio ? `,${AAC_LC}` : '';

  // Never upscale: keep the rungs no taller than the source. A source shorter than every rung
  // gets one rendition at its own height, with the bit rate of the smallest rung.
  let rungs = srcH === null ? profile.rungs : profile.rungs.filter((r) => r.height <= srcH);
  if (rungs.length === 0) {
    const smallest = profile.rungs[profile.rungs.length - 1]!;
    rungs = [{ ...smallest, name: `${even(srcH!)}p`, height: even(srcH!) }];
  }

  const renditions = rungs.map((rung, i): PlannedRendition => {
    const passthrough =
      i === 0 &&
      profile.passthroughTopRung &&
      source.videoCodec === 'h264' &&
      srcH === rung.height &&
      source.videoBitrateKbps !== null &&
      source.videoBitrateKbps <= rung.maxrateKbps &&
      (source.fps === null || source.fps <= profile.maxFps);
    if (passthrough) {
      const avc = source.avcProfile;
      return {
        rung,
        name: rung.name,
        width: srcW ?? even(rung.height * aspect),
        height: rung.height,
        bandwidth: peakBandwidth(rung.maxrateKbps, audioKbps),
        codecs: (avc ? avc1Codec(avc.profileIdc, avc.constraints, avc.levelIdc) : avc1Codec(H264_HIGH, 0, levelIdc(rung.h264Level))) + audioCodecs,
        frameRate: roundedFps,
        passthrough: true,
      };
    }
    return {
      rung,
      name: rung.name,
      width: even(rung.height * aspect),
      height: rung.height,
      bandwidth: peakBandwidth(rung.maxrateKbps, audioKbps),
      codecs: avc1Codec(H264_HIGH, 0, levelIdc(rung.h264Level)) + audioCodecs,
      frameRate: roundedFps,
      passthrough: false,
    };
  });
  return { renditions, frameRate: roundedFps, gopFrames: Math.max(1, Math.round(frameRate * profile.segmentSeconds)),
    hasAudio,
    capFps: knownFps === null || knownFps > profile.maxFps,
  };
}

export interface FfmpegArgsInput {
  profile: Profile;
  plan: LadderPlan;
  inputUrl: string;
  outDir: string; // <media>/hls/<playbackId>; each rendition writes <outDir>/<name>/
  resume: boolean; // continue an existing playlist (takeover/restart) after a discontinuity
}

export function buildFfmpegArgs({ profile, plan, inputUrl, outDir, resume }: FfmpegArgsInput): string[] {
  const encoded = plan.renditions.filter((r) => !r.passthrough);
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel', 'warning',
    // machine-readable progress (fps, speed, out_time) on stdout, once a second
    '-progress', 'pipe:1',
    '-stats_period', '1',
    // start from the ingest's cached keyframe at once; the source shape is already known
    '-fflags', '+nobuffer',
    '-analyzeduration', '1000000',
    '-probesize', '1000000',
    // without a read timeout an RTMP pull hangs forever when the ingest vanishes (µs)
    '-rw_timeout', '10000000',
    '-i', inputUrl,
  ];

  if (encoded.length > 0) {
    // decode once, split, scale each copy: one decoder feeds every encoded rung
    const labels = encoded.map((r) => `[s_${r.name}]`).join('');
    const fps = plan.capFps ? `,fps=${plan.frameRate}` : '';
    const scales = encoded.map((r) => `[s_${r.name}]scale=${r.width}:${r.height}${fps}[v_${r.name}]`);
    args.push('-filter_complex', [`[0:v:0]split=${encoded.length}${labels}`, ...scales].join(';'));
  }

  const hlsFlags = ['delete_segments', 'temp_file', 'independent_segments'];
  // append_list continues the numbering of an existing playlist and marks the seam with
  // EXT-X-DISCONTINUITY (and drops its EXT-X-ENDLIST)
  if (resume) hlsFlags.push('append_list');

  for (const r of plan.renditions) {
    const dir = `${outDir}/${r.name}`;
    args.push('-map', r.passthrough ? '0:v:0' : `[v_${r.name}]`);
    if (plan.hasAudio) args.push('-map', '0:a:0');
    if (r.passthrough) {
      args.push('-c:v', 'copy');
    } else {
      args.push(
        '-c:v', 'libx264',
        '-preset', profile.x264Preset,
        '-profile:v', 'high',
        '-level:v', r.rung.h264Level,
        '-pix_fmt', 'yuv420p',
        '-b:v', `${r.rung.videoBitrateKbps}k`,
        '-maxrate', `${r.rung.maxrateKbps}k`,
        '-bufsize', `${r.rung.bufsizeKbps}k`,
        // fixed GOP, no scene-cut keyframes, keyframes at exact segment times: every encoded
        // rung cuts its segments at the same instants
        '-g', String(plan.gopFrames),
        '-keyint_min', String(plan.gopFrames),
        '-sc_threshold', '0',
        '-force_key_frames', `expr:gte(t,n_forced*${profile.segmentSeconds})`,
      );
    }
    if (plan.hasAudio) {
      args.push('-c:a', 'aac', '-b:a', `${profile.audio.bitrateKbps}k`, '-ar', String(profile.audio.sampleRate), '-ac', String(profile.audio.channels));
    }
    args.push(
      '-map_metadata', '-1',
      '-f', 'hls',
      '-hls_time', String(profile.segmentSeconds),
      '-hls_list_size', String(profile.playlistSegments),
      '-hls_delete_threshold', String(profile.deleteThresholdSegments),
      '-hls_flags', hlsFlags.join('+'),
      '-hls_segment_type', 'mpegts',
      '-hls_segment_filename', `${dir}/seg_%06d.ts`,
      `${dir}/index.m3u8`,
    );
  }
  return args;
}

/** The master playlist text for a plan (renditions tallest first, as players expect no order). */
export function masterPlaylist(plan: LadderPlan): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const r of plan.renditions) {
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=${r.bandwidth},RESOLUTION=${r.width}x${r.height},CODECS="${r.codecs}",FRAME-RATE=${r.frameRate.toFixed(3)}`,
      `${r.name}/index.m3u8`,
    );
  }
  return lines.join('\n') + '\n';
}
