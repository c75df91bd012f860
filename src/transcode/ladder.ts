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
  /** Low-latency mode (fragmented MP4 parts for the packager); null: standard HLS. */
  lowLatency: LowLatencyPlan | null;
}

/**
 * How a low-latency ladder places its keyframes. Segments can only be cut at an IDR present in
 * every rung, so with a passed-through rung every encoded rung puts its IDRs where the
 * publisher's are (`source`) and segments follow the publisher's GOP; with every rung encoded,
 * the ladder keeps its own short GOP (`fixed`, LL_SEGMENT_SECONDS).
 */
export interface LowLatencyPlan {
  keyframes: 'source' | 'fixed';
  /** The expected segment length (target duration): the publisher's GOP rounded up, or LL_SEGMENT_SECONDS. */
  segmentSeconds: number;
  /** ffmpeg closes an fMP4 fragment (a part) when the next packet would pass this. */
  partSeconds: number;
}

/** The part length low-latency mode asks ffmpeg for (LL-HLS-NOTES.md §5: 200 ms parts, PART-HOLD-BACK 0.6–0.7 s). */
export const LL_PART_SECONDS = 0.2;
/** Segments of a fully encoded low-latency ladder: 1 s GOPs (startup, stall penalty and ABR switches all scale with it). */
export const LL_SEGMENT_SECONDS = 1;
/** The longest publisher GOP a low-latency ladder passes through (Apple 1.13/7.7; LL-HLS-NOTES.md §5). */
export const LL_COPY_MAX_GOP_SECONDS = 2;

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

/**
 * Why a low-latency plan encodes the top rung rather than passing it through, in the
 * broadcaster's words (null: passed through, or not a low-latency plan, or not a candidate).
 */
export function lowLatencyCopyRefusal(source: SourceInfo): string | null {
  const gop = source.keyframeIntervalSeconds ?? null;
  if (gop === null) return 'the keyframe interval could not be measured';
  if (gop > LL_COPY_MAX_GOP_SECONDS + 0.05) return `keyframes come every ${gop.toFixed(1)} s (at most ${LL_COPY_MAX_GOP_SECONDS} s for low latency)`;
  return null;
}

export function planLadder(profile: Profile, source: SourceInfo, o: { lowLatency?: boolean } = {}): LadderPlan {
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
      (source.fps === null || source.fps <= profile.maxFps) &&
      // low latency cuts segments at the publisher's keyframes when a rung is passed through
      (!o.lowLatency || lowLatencyCopyRefusal(source) === null);
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
  const copy = renditions.some((r) => r.passthrough);
  const lowLatency: LowLatencyPlan | null = !o.lowLatency
    ? null
    : copy
      ? { keyframes: 'source', segmentSeconds: Math.max(1, Math.ceil((source.keyframeIntervalSeconds ?? LL_COPY_MAX_GOP_SECONDS) - 0.05)), partSeconds: LL_PART_SECONDS }
      : { keyframes: 'fixed', segmentSeconds: LL_SEGMENT_SECONDS, partSeconds: LL_PART_SECONDS };
  const gopSeconds = lowLatency?.keyframes === 'fixed' ? LL_SEGMENT_SECONDS : profile.segmentSeconds;
  return {
    renditions,
    frameRate: roundedFps,
    gopFrames: Math.max(1, Math.round(frameRate * gopSeconds)),
    hasAudio,
    capFps: knownFps === null || knownFps > profile.maxFps,
    lowLatency,
  };
}

export interface FfmpegArgsInput {
  profile: Profile;
  plan: LadderPlan;
  inputUrl: string;
  /**
   * Tee slaves over the one encoded output (video stream i = rendition i, audio `a`): the HLS
   * ladder's muxers (hlsSlaves) and any other output's packaging of the same encoded streams.
   */
  slaves: string[];
  /** Filter labels that get a copy of the decoded picture (the smallest encoded rung) for an output of their own. */
  taps?: string[];
  /** Further ffmpeg outputs (options + target each), after the ladder's, e.g. a thumbnail from a tap. */
  outputs?: string[][];
}

export function buildFfmpegArgs({ profile, plan, inputUrl, slaves, taps = [], outputs = [] }: FfmpegArgsInput): string[] {
  const encoded = plan.renditions.filter((r) => !r.passthrough);
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel', 'warning',
    // machine-readable progress (fps, speed, out_time) on stdout, once a second
    '-progress', 'pipe:1',
    '-stats_period', '1',
    // the ingest sends its cached GOP first, so probing finishes at once; never add
    // `-fflags nobuffer`: it drops the packets read while probing — that first keyframe — and
    // the passed-through rung would then wait a whole GOP for the next one
    '-analyzeduration', '1000000',
    '-probesize', '1000000',
    // without a read timeout an RTMP pull hangs forever when the ingest vanishes (µs)
    '-rw_timeout', '10000000',
    '-i', inputUrl,
  ];

  for (const tap of taps) {
    if (!/^[a-z0-9_]{1,32}$/.test(tap)) throw new Error(`The tap label "${tap}" must be lowercase letters, digits and _.`);
  }
  if (encoded.length > 0 || taps.length > 0) args.push('-filter_complex', scaleGraph(encoded, plan, taps));

  // One output, every rendition's video stream plus the audio, encoded once; the tee muxer
  // hands each slave (an HLS muxer per rendition, see hlsSlaves) its streams.
  plan.renditions.forEach((r) => args.push('-map', r.passthrough ? '0:v:0' : `[v_${r.name}]`));
  if (plan.hasAudio) args.push('-map', '0:a:0');
  plan.renditions.forEach((r, i) => {
    // stream specifiers on every codec option: a bare -c:v after -c:v:0 copy would silently
    // re-encode the passed-through stream too
    if (r.passthrough) return void args.push(`-c:v:${i}`, 'copy');
    args.push(
      `-c:v:${i}`, 'libx264',
      `-preset:v:${i}`, profile.x264Preset,
      `-profile:v:${i}`, 'high',
      `-level:v:${i}`, r.rung.h264Level,
      `-pix_fmt:v:${i}`, 'yuv420p',
      `-b:v:${i}`, `${r.rung.videoBitrateKbps}k`,
      `-maxrate:v:${i}`, `${r.rung.maxrateKbps}k`,
      `-bufsize:v:${i}`, `${r.rung.bufsizeKbps}k`,
    );
    // low latency: no lookahead, no B-frames, sliced threads — x264 hands each frame out as it
    // comes (LL-HLS-NOTES.md §2.2: ~60 ms instead of ~600 ms at veryfast)
    // and the parameter sets in the header (avcC), as MP4 wants them: the tee muxer does not ask
    // the encoders for a global header itself, and without one the fMP4 rungs do not decode
    if (plan.lowLatency) args.push(`-tune:v:${i}`, 'zerolatency', `-flags:v:${i}`, '+global_header');
    if (plan.lowLatency?.keyframes === 'source') {
      // an IDR wherever the passed-through rung has one (and nowhere else: no scene cuts, and a
      // keyint far beyond the longest GOP allowed), so every rung can cut at the same instants
      args.push(
        `-g:v:${i}`, String(Math.round(plan.frameRate * LL_COPY_MAX_GOP_SECONDS * 2)),
        `-sc_threshold:v:${i}`, '0',
        `-force_key_frames:v:${i}`, 'source',
      );
    } else {
      const seconds = plan.lowLatency ? plan.lowLatency.segmentSeconds : profile.segmentSeconds;
      args.push(
        // fixed GOP, no scene-cut keyframes, keyframes at exact segment times: every encoded
        // rung cuts its segments at the same instants
        `-g:v:${i}`, String(plan.gopFrames),
        `-keyint_min:v:${i}`, String(plan.gopFrames),
        `-sc_threshold:v:${i}`, '0',
        `-force_key_frames:v:${i}`, `expr:gte(t,n_forced*${seconds})`,
      );
    }
    if (profile.x264Params) args.push(`-x264-params:v:${i}`, profile.x264Params);
  });
  if (plan.hasAudio) {
    args.push('-c:a', 'aac', '-b:a', `${profile.audio.bitrateKbps}k`, '-ar', String(profile.audio.sampleRate), '-ac', String(profile.audio.channels));
  }
  args.push('-map_metadata', '-1', '-f', 'tee', slaves.join('|'));
  for (const output of outputs) args.push(...output);
  return args;
}

/** The HLS ladder's tee slaves: one HLS muxer per rendition, writing <outDir>/<name>/. */
export function hlsSlaves(o: {
  profile: Profile;
  plan: LadderPlan;
  outDir: string; // <media>/hls/<playbackId>; each rendition writes <outDir>/<name>/
  resume: boolean; // continue an existing playlist (takeover/restart) after a discontinuity
  // names this publish's segments: the playback URL outlives a publish, and segments are cached
  // for a day, so a re-broadcast must never reuse an earlier broadcast's segment names
  segmentTag: string;
}): string[] {
  return o.plan.renditions.map((r, i) =>
    teeSlave({ profile: o.profile, resume: o.resume, segmentTag: o.segmentTag, index: i, hasAudio: o.plan.hasAudio, dir: `${o.outDir}/${r.name}` }),
  );
}

/**
 * The low-latency ladder's tee slaves: each rendition as fragmented MP4 into a pipe the worker's
 * packager reads (`pipes[i]` = `pipe:N` for rendition i). `empty_moov` writes the init section at
 * once, `frag_keyframe` starts a fragment at every IDR, `frag_duration` closes one every part
 * length, and `default_base_moof` keeps each fragment's offsets relative to its own moof, so a
 * fragment cut out of the stream is a valid part on its own (LL-HLS-NOTES.md §2.1 (c)).
 */
export function llSlaves(o: { plan: LadderPlan; pipes: string[] }): string[] {
  const ll = o.plan.lowLatency;
  if (!ll) throw new Error('llSlaves needs a low-latency plan.');
  if (o.pipes.length !== o.plan.renditions.length) throw new Error(`llSlaves needs one pipe per rendition (${o.plan.renditions.length}), got ${o.pipes.length}.`);
  return o.plan.renditions.map((_, i) => {
    const pipe = o.pipes[i]!;
    if (!/^pipe:[0-9]{1,3}$/.test(pipe)) throw new Error(`"${pipe}" is not a pipe URL.`);
    const options = [
      `select=\\'v:${i}${o.plan.hasAudio ? ',a' : ''}\\'`,
      'f=mp4',
      'movflags=frag_keyframe+empty_moov+default_base_moof',
      `frag_duration=${Math.round(ll.partSeconds * 1_000_000)}`,
    ];
    return `[${options.join(':')}]${pipe}`;
  });
}

/** One tee slave: an HLS muxer for video stream `index` (and the audio). */
function teeSlave(o: { profile: Profile; resume: boolean; segmentTag: string; index: number; hasAudio: boolean; dir: string }): string {
  if (!/^[a-z0-9]{1,16}$/.test(o.segmentTag)) throw new Error(`The segment tag "${o.segmentTag}" must be lowercase letters and digits.`);
  if (!/^\/[A-Za-z0-9_./@+-]*$/.test(o.dir)) throw new Error(`The output dir ${o.dir} holds characters the tee muxer cannot take.`);
  // omit_endlist: ffmpeg's input ends when the publisher's connection breaks, and its trailer would
  // tell players the stream ended while the publisher may still come back (the reconnect grace);
  // the worker writes EXT-X-ENDLIST itself when the publish really ends (finishPlaylists)
  const hlsFlags = ['delete_segments', 'temp_file', 'independent_segments', 'omit_endlist'];
  // append_list continues the numbering of an existing playlist and marks the seam with
  // EXT-X-DISCONTINUITY (and drops its EXT-X-ENDLIST)
  if (o.resume) hlsFlags.push('append_list');
  const options = [
    // the quotes are tee's own syntax (a stream list holds ':' and ','), passed as is: no shell
    `select=\\'v:${o.index}${o.hasAudio ? ',a' : ''}\\'`,
    'f=hls',
    `hls_time=${o.profile.segmentSeconds}`,
    `hls_list_size=${o.profile.playlistSegments}`,
    `hls_delete_threshold=${o.profile.deleteThresholdSegments}`,
    `hls_flags=${hlsFlags.join('+')}`,
    'hls_segment_type=mpegts',
    `hls_segment_filename=${o.dir}/seg-${o.segmentTag}-%06d.ts`,
  ];
  return `[${options.join(':')}]${o.dir}/index.m3u8`;
}

/**
 * One decode feeds every encoded rung. The source is scaled once to the tallest encoded rung;
 * the shorter rungs are scaled from that picture, not from the full-size source: their scalers
 * read a 720p frame instead of a 1080p one (bench:transcode measured this at ~10% of the CPU).
 */
function scaleGraph(encoded: PlannedRendition[], plan: LadderPlan, taps: string[]): string {
  const fps = plan.capFps ? `fps=${plan.frameRate},` : '';
  // taps split off the smallest encoded picture; with no encoded rung (a lone passthrough), the
  // source is decoded for them alone
  const tapOuts = taps.map((t) => `[${t}]`).join('');
  if (encoded.length === 0) return `[0:v:0]${fps}split=${taps.length}${tapOuts}`;
  const smallest = encoded[encoded.length - 1]!;
  const out = (r: PlannedRendition) => (r === smallest && taps.length > 0 ? `,split=${taps.length + 1}[v_${r.name}]${tapOuts}` : `[v_${r.name}]`);
  const [first, ...rest] = encoded as [PlannedRendition, ...PlannedRendition[]];
  const top = `[0:v:0]${fps}${scale(first)}`;
  if (rest.length === 0) return `${top}${out(first)}`;
  const outs = [`[v_${first.name}]`, ...rest.map((r) => `[s_${r.name}]`)].join('');
  return [`${top},split=${encoded.length}${outs}`, ...rest.map((r) => `[s_${r.name}]${scale(r)}${out(r)}`)].join(';');
}

/**
 * Bilinear, not swscale's default bicubic: when shrinking, swscale widens the bilinear (triangle)
 * filter to the scale factor, so it still averages every source pixel (no aliasing) at a
 * fraction of bicubic's cost; sharpness differences are below what these bit rates keep.
 */
function scale(r: PlannedRendition): string {
  return `scale=${r.width}:${r.height}:flags=bilinear`;
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

/** A short tag for a publish session's segment names (its id's first 8 hex digits). */
export function segmentTagFor(publishSessionId: string): string {
  return publishSessionId.replace(/[^0-9a-f]/g, '').slice(0, 8) || 'seg';
}
