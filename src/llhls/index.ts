// The LL-HLS packager's public API, for the ffmpeg wiring (worker) and the playlist origin.
// Everything here is pure: no I/O, no timers, no Redis; the caller writes the files and passes
// the wall clock. See /work/notes/llpack.md (README "Low-latency mode: the packager").
export { LlSession, llConstants, type LlSessionOptions } from './session.js';
export { RenditionPackager, type PushResult } from './packager.js';
export type { RenditionStats } from './rendition-stats.js';
export { renderMediaPlaylist, MEDIA_PLAYLIST_VERSION, type OtherRendition } from './media-playlist.js';
export { renderMasterPlaylist, frameRate, type Variant } from './master-playlist.js';
export { fileNames } from './names.js';
export { Mp4FormatError, type Mp4ErrorReason } from './errors.js';
export { BoxSplitter, DEFAULT_MAX_BOX_BYTES, type Mp4Box } from './mp4-boxes.js';
export { readMoov, type InitInfo, type TrackInfo } from './moov.js';
export { readMoof, type Sample, type TrackRun } from './moof.js';
export type { LlConstants, LlFile, PartInfo, RenditionReport, RenditionState, SegmentInfo } from './types.js';
