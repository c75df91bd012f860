// Golden argv per profile and source shape: any change to the ffmpeg command shows up here.
import t from 'tap';
import type { SourceInfo } from '../streams/types.js';
import { PROFILES_DIR } from '../paths.js';
import { buildFfmpegArgs, hlsSlaves, llSlaves, lowLatencyCopyRefusal, masterPlaylist, planLadder, segmentTagFor } from './ladder.js';
import { loadProfile } from './profiles.js';

const def = await loadProfile(PROFILES_DIR, 'default');
const noPass = await loadProfile(PROFILES_DIR, 'no-passthrough');
const src1080: SourceInfo = { videoCodec: 'h264', audioCodec: 'aac', width: 1920, height: 1080, fps: 30, videoBitrateKbps: 4500, audioBitrateKbps: 128, avcProfile: { profileIdc: 100, constraints: 0, levelIdc: 41 } };
const input = 'rtmp://ingest:1935/internal/ps1?sig=S';
const argv = (text: string) => text.trim().split(/\s+/);

/** The HLS ladder alone: the argv the live job runs when no other output adds to it. */
const ladderArgs = (o: Parameters<typeof hlsSlaves>[0]) => buildFfmpegArgs({ profile: o.profile, plan: o.plan, inputUrl: input, slaves: hlsSlaves(o) });

const HEAD = `-hide_banner -nostdin -loglevel warning -progress pipe:1 -stats_period 1
  -analyzeduration 1000000 -probesize 1000000 -rw_timeout 10000000 -i ${input}`;
const AUDIO = '-c:a aac -b:a 128k -ar 48000 -ac 2';
const x264 = (i: number, level: string, b: string, max: string, buf: string, g = 60) =>
  `-c:v:${i} libx264 -preset:v:${i} veryfast -profile:v:${i} high -level:v:${i} ${level} -pix_fmt:v:${i} yuv420p -b:v:${i} ${b} -maxrate:v:${i} ${max} -bufsize:v:${i} ${buf} -g:v:${i} ${g} -keyint_min:v:${i} ${g} -sc_threshold:v:${i} 0 -force_key_frames:v:${i} expr:gte(t,n_forced*2) -x264-params:v:${i} bframes=0:rc-lookahead=0:sync-lookahead=0`;
const slave = (i: number, name: string, flags = 'delete_segments+temp_file+independent_segments+omit_endlist') =>
  `[select=\\'v:${i},a\\':f=hls:hls_time=2:hls_list_size=6:hls_delete_threshold=3:hls_flags=${flags}:hls_segment_type=mpegts:hls_segment_filename=/m/hls/pb/${name}/seg-ab12cd34-%06d.ts]/m/hls/pb/${name}/index.m3u8`;
const tee = (...slaves: string[]) => `-map_metadata -1 -f tee ${slaves.join('|')}`;

t.test('1080p30 H.264 within the cap: top rung passed through, three encoded from one decode', async (t) => {
  const plan = planLadder(def, src1080);
  t.same(ladderArgs({ profile: def, plan, outDir: '/m/hls/pb', resume: false, segmentTag: 'ab12cd34' }), argv(`${HEAD}
    -filter_complex [0:v:0]scale=1280:720:flags=bilinear,split=3[v_720p][s_480p][s_360p];[s_480p]scale=854:480:flags=bilinear[v_480p];[s_360p]scale=640:360:flags=bilinear[v_360p]
    -map 0:v:0 -map [v_720p] -map [v_480p] -map [v_360p] -map 0:a:0
    -c:v:0 copy ${x264(1, '4.0', '2800k', '3360k', '5600k')} ${x264(2, '3.1', '1400k', '1680k', '2800k')} ${x264(3, '3.1', '800k', '960k', '1600k')}
    ${AUDIO} ${tee(slave(0, '1080p'), slave(1, '720p'), slave(2, '480p'), slave(3, '360p'))}`));
  t.equal(masterPlaylist(plan), [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    '#EXT-X-STREAM-INF:BANDWIDTH=6740800,RESOLUTION=1920x1080,CODECS="avc1.640029,mp4a.40.2",FRAME-RATE=30.000',
    '1080p/index.m3u8',
    '#EXT-X-STREAM-INF:BANDWIDTH=3836800,RESOLUTION=1280x720,CODECS="avc1.640028,mp4a.40.2",FRAME-RATE=30.000',
    '720p/index.m3u8',
    '#EXT-X-STREAM-INF:BANDWIDTH=1988800,RESOLUTION=854x480,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000',
    '480p/index.m3u8',
    '#EXT-X-STREAM-INF:BANDWIDTH=1196800,RESOLUTION=640x360,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000',
    '360p/index.m3u8',
    '',
  ].join('\n'));
});

t.test('720p source: no upscaling, 720p passed through, resume continues the playlists', async (t) => {
  const src = { ...src1080, width: 1280, height: 720, videoBitrateKbps: 2500, avcProfile: { profileIdc: 77, constraints: 64, levelIdc: 31 } };
  const plan = planLadder(def, src);
  t.same(plan.renditions.map((r) => [r.name, r.width, r.height, r.passthrough, r.codecs]), [
    ['720p', 1280, 720, true, 'avc1.4d401f,mp4a.40.2'],
    ['480p', 854, 480, false, 'avc1.64001f,mp4a.40.2'],
    ['360p', 640, 360, false, 'avc1.64001f,mp4a.40.2'],
  ]);
  const flags = 'delete_segments+temp_file+independent_segments+omit_endlist+append_list';
  t.same(ladderArgs({ profile: def, plan, outDir: '/m/hls/pb', resume: true, segmentTag: 'ab12cd34' }), argv(`${HEAD}
    -filter_complex [0:v:0]scale=854:480:flags=bilinear,split=2[v_480p][s_360p];[s_360p]scale=640:360:flags=bilinear[v_360p]
    -map 0:v:0 -map [v_480p] -map [v_360p] -map 0:a:0
    -c:v:0 copy ${x264(1, '3.1', '1400k', '1680k', '2800k')} ${x264(2, '3.1', '800k', '960k', '1600k')}
    ${AUDIO} ${tee(slave(0, '720p', flags), slave(1, '480p', flags), slave(2, '360p', flags))}`));
});

t.test('passthrough off: every rung encoded, 60 fps source keeps 60 fps with a 2 s GOP', async (t) => {
  const plan = planLadder(noPass, { ...src1080, fps: 60 });
  t.notOk(plan.renditions.some((r) => r.passthrough));
  t.same(ladderArgs({ profile: noPass, plan, outDir: '/m/hls/pb', resume: false, segmentTag: 'ab12cd34' }), argv(`${HEAD}
    -filter_complex [0:v:0]scale=1920:1080:flags=bilinear,split=4[v_1080p][s_720p][s_480p][s_360p];[s_720p]scale=1280:720:flags=bilinear[v_720p];[s_480p]scale=854:480:flags=bilinear[v_480p];[s_360p]scale=640:360:flags=bilinear[v_360p]
    -map [v_1080p] -map [v_720p] -map [v_480p] -map [v_360p] -map 0:a:0
    ${x264(0, '4.2', '5000k', '6000k', '10000k', 120)} ${x264(1, '4.0', '2800k', '3360k', '5600k', 120)}
    ${x264(2, '3.1', '1400k', '1680k', '2800k', 120)} ${x264(3, '3.1', '800k', '960k', '1600k', 120)}
    ${AUDIO} ${tee(slave(0, '1080p'), slave(1, '720p'), slave(2, '480p'), slave(3, '360p'))}`));
});

t.test('the quality profile leaves x264 its B-frames and lookahead', async (t) => {
  const quality = await loadProfile(PROFILES_DIR, 'quality');
  const args = ladderArgs({ profile: quality, plan: planLadder(quality, src1080), outDir: '/m', resume: false, segmentTag: 'ab12cd34' });
  t.notOk(args.some((a) => a.startsWith('-x264-params')));
});

t.test('passthrough needs H.264, the same height and a bit rate within the cap', async (t) => {
  t.notOk(planLadder(def, { ...src1080, videoBitrateKbps: 8000 }).renditions[0]!.passthrough, 'over the cap: encoded');
  t.notOk(planLadder(def, { ...src1080, videoBitrateKbps: null }).renditions[0]!.passthrough, 'unknown rate: encoded');
  t.notOk(planLadder(def, { ...src1080, height: 1088 }).renditions[0]!.passthrough, 'other height: encoded');
});

t.test('odd shapes: no audio, 4:3, a source shorter than every rung, unknown size and fps', async (t) => {
  const noAudio = planLadder(def, { ...src1080, audioCodec: null });
  const args = ladderArgs({ profile: def, plan: noAudio, outDir: '/m', resume: false, segmentTag: 'ab12cd34' });
  t.notOk(args.includes('0:a:0'), 'no audio mapped');
  t.notOk(args.includes('-c:a'), 'no audio encoder');
  t.throws(() => ladderArgs({ profile: def, plan: noAudio, outDir: '/m', resume: false, segmentTag: '../x' }), /segment tag/);
  t.equal(segmentTagFor('0b5e1f2a-9c3d-4e5f-8a7b-6c5d4e3f2a1b'), '0b5e1f2a');
  t.match(args[args.length - 1], /^\[select=\\'v:0\\':f=hls:/, 'the tee selects video only');
  t.throws(() => ladderArgs({ profile: def, plan: noAudio, outDir: '/m/a|b', resume: false, segmentTag: 'ab12cd34' }), /tee muxer/);
  t.equal(noAudio.renditions[1]!.codecs, 'avc1.640028');
  t.same(planLadder(def, { ...src1080, width: 1440, height: 1080 }).renditions.map((r) => r.width), [1440, 960, 640, 480]);
  const tiny = planLadder(def, { ...src1080, width: 426, height: 240 });
  t.same(tiny.renditions.map((r) => [r.name, r.width, r.height]), [['240p', 426, 240]]);
  const unknown = planLadder(def, { ...src1080, width: null, height: null, fps: null, avcProfile: null });
  t.equal(unknown.renditions.length, 4);
  t.equal(unknown.frameRate, 30);
  t.match(ladderArgs({ profile: def, plan: unknown, outDir: '/m', resume: false, segmentTag: 'ab12cd34' }).join(' '), /\[0:v:0\]fps=30,scale=1920:1080:flags=bilinear,split=4\[v_1080p\]/);
});

t.test('other outputs: taps split off the smallest encoded picture, their own outputs follow the ladder', async (t) => {
  const plan = planLadder(def, src1080);
  const args = buildFfmpegArgs({ profile: def, plan, inputUrl: input, slaves: ['[f=null]x'], taps: ['tap_thumb'], outputs: [['-map', '[tap_thumb]', '-f', 'null', '-']] });
  t.same(args.slice(args.indexOf('-filter_complex'), args.indexOf('-filter_complex') + 2), ['-filter_complex',
    '[0:v:0]scale=1280:720:flags=bilinear,split=3[v_720p][s_480p][s_360p];[s_480p]scale=854:480:flags=bilinear[v_480p];[s_360p]scale=640:360:flags=bilinear,split=2[v_360p][tap_thumb]']);
  t.same(args.slice(-10), ['-map_metadata', '-1', '-f', 'tee', '[f=null]x', '-map', '[tap_thumb]', '-f', 'null', '-']);
  // a lone passed-through rung: the source is decoded for the taps alone
  const lone = planLadder({ ...def, rungs: def.rungs.slice(0, 1) }, src1080);
  const loneArgs = buildFfmpegArgs({ profile: def, plan: lone, inputUrl: input, slaves: ['[f=null]x'], taps: ['tap_a', 'tap_b'] });
  t.equal(loneArgs[loneArgs.indexOf('-filter_complex') + 1], '[0:v:0]split=2[tap_a][tap_b]');
  t.same(buildFfmpegArgs({ profile: def, plan: lone, inputUrl: input, slaves: ['[f=null]x'] }).includes('-filter_complex'), false, 'no graph without encoding or taps');
  t.throws(() => buildFfmpegArgs({ profile: def, plan, inputUrl: input, slaves: [], taps: ['x];[0:v'] }), /tap label/);
});

// Low-latency mode: fragmented MP4 into a pipe per rendition (the worker's packager cuts parts),
// x264 without lookahead or B-frames, keyframes aligned across every rung.
const llSlave = (i: number, pipe: number, audio = true) =>
  `[select=\\'v:${i}${audio ? ',a' : ''}\\':f=mp4:movflags=frag_keyframe+empty_moov+default_base_moof:frag_duration=200000]pipe:${pipe}`;
const llX264 = (i: number, level: string, b: string, max: string, buf: string, keyframes: string) =>
  `-c:v:${i} libx264 -preset:v:${i} veryfast -profile:v:${i} high -level:v:${i} ${level} -pix_fmt:v:${i} yuv420p -b:v:${i} ${b} -maxrate:v:${i} ${max} -bufsize:v:${i} ${buf} -tune:v:${i} zerolatency -flags:v:${i} +global_header ${keyframes} -x264-params:v:${i} bframes=0:rc-lookahead=0:sync-lookahead=0`;
const llArgs = (plan: ReturnType<typeof planLadder>, pipes: string[]) => buildFfmpegArgs({ profile: def, plan, inputUrl: input, slaves: llSlaves({ plan, pipes }) });

t.test('low latency, publisher GOP 2 s: the top rung passed through, every encoded rung keyed on the source\'s keyframes', async (t) => {
  const plan = planLadder(def, { ...src1080, keyframeIntervalSeconds: 2, bFrames: false }, { lowLatency: true });
  t.same(plan.lowLatency, { keyframes: 'source', segmentSeconds: 2, partSeconds: 0.2 });
  t.ok(plan.renditions[0]!.passthrough);
  const src = (i: number) => `-g:v:${i} 120 -sc_threshold:v:${i} 0 -force_key_frames:v:${i} source`;
  t.same(llArgs(plan, ['pipe:3', 'pipe:4', 'pipe:5', 'pipe:6']), argv(`${HEAD}
    -filter_complex [0:v:0]scale=1280:720:flags=bilinear,split=3[v_720p][s_480p][s_360p];[s_480p]scale=854:480:flags=bilinear[v_480p];[s_360p]scale=640:360:flags=bilinear[v_360p]
    -map 0:v:0 -map [v_720p] -map [v_480p] -map [v_360p] -map 0:a:0
    -c:v:0 copy ${llX264(1, '4.0', '2800k', '3360k', '5600k', src(1))} ${llX264(2, '3.1', '1400k', '1680k', '2800k', src(2))} ${llX264(3, '3.1', '800k', '960k', '1600k', src(3))}
    ${AUDIO} ${tee(llSlave(0, 3), llSlave(1, 4), llSlave(2, 5), llSlave(3, 6))}`));
  t.equal(planLadder(def, { ...src1080, keyframeIntervalSeconds: 1 }, { lowLatency: true }).lowLatency!.segmentSeconds, 1, 'a 1 s GOP: 1 s segments');
  t.equal(planLadder(def, { ...src1080, keyframeIntervalSeconds: 1.5 }, { lowLatency: true }).lowLatency!.segmentSeconds, 2, 'rounded up');
  t.equal(planLadder(def, { ...src1080, keyframeIntervalSeconds: 2.03 }, { lowLatency: true }).lowLatency!.segmentSeconds, 2, 'a timestamp\'s jitter over 2 s is still 2 s');
});

t.test('low latency, publisher GOP too long or unknown: the top rung encoded with the ladder\'s own 1 s GOP', async (t) => {
  for (const gop of [4, 8.3, null]) {
    const source = { ...src1080, keyframeIntervalSeconds: gop };
    const plan = planLadder(def, source, { lowLatency: true });
    t.notOk(plan.renditions.some((r) => r.passthrough), `GOP ${gop}: nothing passed through`);
    t.same(plan.lowLatency, { keyframes: 'fixed', segmentSeconds: 1, partSeconds: 0.2 });
    t.equal(plan.gopFrames, 30, 'a 1 s GOP at 30 fps');
    t.match(lowLatencyCopyRefusal(source), gop === null ? /could not be measured/ : /keyframes come every .* s \(at most 2 s for low latency\)/);
  }
  const plan = planLadder(def, { ...src1080, keyframeIntervalSeconds: 4 }, { lowLatency: true });
  const fixed = (i: number) => `-g:v:${i} 30 -keyint_min:v:${i} 30 -sc_threshold:v:${i} 0 -force_key_frames:v:${i} expr:gte(t,n_forced*1)`;
  t.same(llArgs(plan, ['pipe:3', 'pipe:4', 'pipe:5', 'pipe:6']), argv(`${HEAD}
    -filter_complex [0:v:0]scale=1920:1080:flags=bilinear,split=4[v_1080p][s_720p][s_480p][s_360p];[s_720p]scale=1280:720:flags=bilinear[v_720p];[s_480p]scale=854:480:flags=bilinear[v_480p];[s_360p]scale=640:360:flags=bilinear[v_360p]
    -map [v_1080p] -map [v_720p] -map [v_480p] -map [v_360p] -map 0:a:0
    ${llX264(0, '4.2', '5000k', '6000k', '10000k', fixed(0))} ${llX264(1, '4.0', '2800k', '3360k', '5600k', fixed(1))}
    ${llX264(2, '3.1', '1400k', '1680k', '2800k', fixed(2))} ${llX264(3, '3.1', '800k', '960k', '1600k', fixed(3))}
    ${AUDIO} ${tee(llSlave(0, 3), llSlave(1, 4), llSlave(2, 5), llSlave(3, 6))}`));
  t.equal(planLadder(def, src1080).lowLatency, null, 'standard mode has no low-latency plan');
  t.ok(planLadder(def, src1080).renditions[0]!.passthrough, 'and passes through without a measured GOP, as before');
});

t.test('low-latency slaves: one pipe per rendition, video only without audio, refused without a plan', async (t) => {
  const plan = planLadder(def, { ...src1080, audioCodec: null, keyframeIntervalSeconds: 1 }, { lowLatency: true });
  t.same(llSlaves({ plan, pipes: ['pipe:7', 'pipe:8', 'pipe:9', 'pipe:10'] }), [llSlave(0, 7, false), llSlave(1, 8, false), llSlave(2, 9, false), llSlave(3, 10, false)]);
  t.throws(() => llSlaves({ plan, pipes: ['pipe:3'] }), /one pipe per rendition/);
  t.throws(() => llSlaves({ plan, pipes: ['pipe:3', 'pipe:4', 'pipe:5', 'x|y'] }), /not a pipe URL/);
  t.throws(() => llSlaves({ plan: planLadder(def, src1080), pipes: [] }), /low-latency plan/);
});
