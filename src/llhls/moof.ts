// What the packager needs from each moof: per traf the track id, tfdt's baseMediaDecodeTime and the
// samples (duration, size, flags, composition offset, sync) after the tfhd → trex fallbacks of
// ISO/IEC 14496-12 §8.8.7–8.8.8.
import { Mp4FormatError } from './errors.js';
import { Reader, children } from './mp4-read.js';
import type { TrackDefaults } from './moov.js';

export interface Sample {
  duration: number;
  size: number;
  flags: number;
  /** composition time offset (trun v0 unsigned, v1 signed) */
  cto: number;
  /** !sample_is_non_sync_sample */
  sync: boolean;
}

export interface TrackRun {
  trackId: number;
  baseMediaDecodeTime: number;
  samples: Sample[];
}

const NON_SYNC = 0x00010000;

// tfhd flags
const TF_BASE_DATA_OFFSET = 0x01;
const TF_SAMPLE_DESCRIPTION = 0x02;
const TF_DURATION = 0x08;
const TF_SIZE = 0x10;
const TF_FLAGS = 0x20;
// trun flags
const TR_DATA_OFFSET = 0x01;
const TR_FIRST_FLAGS = 0x04;
const TR_DURATION = 0x100;
const TR_SIZE = 0x200;
const TR_FLAGS = 0x400;
const TR_CTO = 0x800;

/** At most this many samples per trun: 200 ms of 48 kHz audio is ~10; a corrupt count is refused. */
const MAX_SAMPLES = 100_000;

export function readMoof(moofBody: Buffer, defaultsOf: (trackId: number) => TrackDefaults | undefined): TrackRun[] {
  const out: TrackRun[] = [];
  for (const box of children(moofBody, 'moof')) {
    if (box.type === 'traf') out.push(readTraf(box.body, defaultsOf));
  }
  if (out.length === 0) throw new Mp4FormatError('malformed', 'A moof box has no traf box.');
  return out;
}

function readTraf(body: Buffer, defaultsOf: (trackId: number) => TrackDefaults | undefined): TrackRun {
  const boxes = children(body, 'traf');
  const tfhdBox = boxes.find((b) => b.type === 'tfhd');
  if (!tfhdBox) throw new Mp4FormatError('malformed', 'A traf box has no tfhd box.');
  const tfhd = new Reader(tfhdBox.body, 'tfhd');
  const { flags } = tfhd.fullBox();
  const trackId = tfhd.u32();
  const trex = defaultsOf(trackId);
  if (!trex) throw new Mp4FormatError('unexpected', `A moof describes track ${trackId}, which the moov does not have.`);
  if (flags & TF_BASE_DATA_OFFSET) tfhd.u64();
  if (flags & TF_SAMPLE_DESCRIPTION) tfhd.u32();
  const defaults: TrackDefaults = {
    sampleDuration: flags & TF_DURATION ? tfhd.u32() : trex.sampleDuration,
    sampleSize: flags & TF_SIZE ? tfhd.u32() : trex.sampleSize,
    sampleFlags: flags & TF_FLAGS ? tfhd.u32() : trex.sampleFlags,
  };

  const tfdtBox = boxes.find((b) => b.type === 'tfdt');
  if (!tfdtBox) throw new Mp4FormatError('malformed', `The traf of track ${trackId} has no tfdt box (ffmpeg writes one).`);
  const tfdt = new Reader(tfdtBox.body, 'tfdt');
  const baseMediaDecodeTime = tfdt.fullBox().version === 1 ? tfdt.u64() : tfdt.u32();

  const samples: Sample[] = [];
  for (const b of boxes) if (b.type === 'trun') readTrun(b.body, defaults, samples);
  return { trackId, baseMediaDecodeTime, samples };
}

function readTrun(body: Buffer, defaults: TrackDefaults, into: Sample[]): void {
  const r = new Reader(body, 'trun');
  const { version, flags } = r.fullBox();
  const count = r.u32();
  if (count > MAX_SAMPLES) throw new Mp4FormatError('malformed', `A trun box declares ${count} samples.`);
  if (flags & TR_DATA_OFFSET) r.i32();
  const firstFlags = flags & TR_FIRST_FLAGS ? r.u32() : null;
  for (let i = 0; i < count; i++) {
    const duration = flags & TR_DURATION ? r.u32() : defaults.sampleDuration;
    const size = flags & TR_SIZE ? r.u32() : defaults.sampleSize;
    let sampleFlags = flags & TR_FLAGS ? r.u32() : defaults.sampleFlags;
    if (i === 0 && firstFlags !== null && !(flags & TR_FLAGS)) sampleFlags = firstFlags;
    const cto = flags & TR_CTO ? (version === 0 ? r.u32() : r.i32()) : 0;
    into.push({ duration, size, flags: sampleFlags, cto, sync: (sampleFlags & NON_SYNC) === 0 });
  }
}
