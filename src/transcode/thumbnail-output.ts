// The live thumbnail of a stream: an output of the transcode (outputs.ts) that adds one small
// ffmpeg output to the ladder's run — a JPEG every few seconds from a tap of the decoded picture
// the ladder already scales for its smallest rung (no second decode, no second scale) — and
// keeps the newest one at <media>/hls/<playbackId>/thumb.jpg (src/thumbnails.ts), where nginx
// serves it through each viewer's own URL. It fails alone: its pipe is always drained, a broken
// or slow disk costs pictures, never the ladder.
import type { WorkerMetrics } from '../metrics.js';
import type { LiveTranscodeJob } from '../streams/types.js';
import { THUMBNAIL_EVERY_SECONDS, thumbnailFile } from '../thumbnails.js';
import type { OutputStatus, TranscodeOutput } from './outputs.js';
import { removeThumbnail, startThumbnailWriter, type ThumbnailWriter } from './thumbnail-writer.js';

/** JPEG quality (mjpeg's qscale, 2 best … 31 worst): a 640×360 picture at 5 is ~15 KB. */
const JPEG_QUALITY = 5;

/** The ffmpeg output of the thumbnail: pure, pinned by a golden test. */
export function thumbnailArgs(o: { tap: string; pipe: string }): string[] {
  if (!/^[a-z0-9_]{1,40}$/.test(o.tap)) throw new Error(`The tap label "${o.tap}" must be lowercase letters, digits and _.`);
  if (!/^pipe:[0-9]{1,3}$/.test(o.pipe)) throw new Error(`The thumbnail target "${o.pipe}" must be a pipe.`);
  return [
    '-map', `[${o.tap}]`,
    // one picture every few seconds: the other frames are dropped before the encoder (constant
    // frame rate output), so the JPEG encoder runs once per picture, not per frame
    '-r', `1/${THUMBNAIL_EVERY_SECONDS}`,
    // full-range 4:2:0, as JPEG viewers expect: ffmpeg converts the tap's limited range
    '-c:v', 'mjpeg', '-q:v', String(JPEG_QUALITY), '-pix_fmt', 'yuvj420p',
    // pictures back to back on the pipe, each one written out as soon as it is encoded
    '-f', 'image2pipe', o.pipe,
  ];
}

export function thumbnailOutput(o: { job: LiveTranscodeJob; mediaDir: string; metrics?: WorkerMetrics }): TranscodeOutput {
  const file = thumbnailFile(o.mediaDir, o.job.playbackId);
  let writer: ThumbnailWriter | null = null;
  let state: OutputStatus['state'] = 'idle';
  let written = 0; // over the runs of this job, for its status

  const closeWriter = async () => {
    const w = writer;
    writer = null;
    if (!w) return;
    await w.close();
    written += w.status().written;
  };

  return {
    name: 'thumbnail',
    async prepare(run, ff) {
      await closeWriter(); // a run that ended without runEnded (it should not happen): no second writer on the file
      // a new broadcast starts without the last one's picture (the ladder's fresh directory has
      // none either); a continued one keeps it until the next picture replaces it
      if (!run.continuing) await removeThumbnail(file);
      const tap = ff.tap('thumb');
      const pipe = ff.pipe((input) => {
        writer = startThumbnailWriter({ input, file, log: run.log, onWritten: () => o.metrics?.thumbnailsWritten.inc() });
      });
      ff.output(thumbnailArgs({ tap, pipe }));
      state = 'running';
    },
    async runEnded(how) {
      await closeWriter();
      // the broadcast is over: a list must not show a picture of something not on air (the API
      // also stops handing the URL out once the stream is not live or the picture is stale)
      if (how === 'ended' || how === 'failed') {
        await removeThumbnail(file);
        state = 'stopped';
      }
    },
    status() {
      const now = writer?.status();
      const total = written + (now?.written ?? 0);
      const detail = now?.lastError ? `${total} pictures written; the last write failed (${now.lastError})` : `${total} pictures written`;
      return { state, detail };
    },
  };
}
