// Where a live stream's thumbnail lives, one place for the three that need it: the worker writes
// it (transcode/thumbnail-output.ts), nginx serves it (local/nginx-config.ts, the template), and
// the API hands out its URL only while it is fresh (streams/routes.ts, events/session-routes.ts).
// It sits in the stream's live directory, <media>/hls/<playbackId>/thumb.jpg (the directory
// transcode/hls-output.ts owns), so a viewer's token path serves it beside the playlists and a
// new broadcast starts without the last one's picture.
import { stat } from 'node:fs/promises';
import path from 'node:path';

export const THUMBNAIL_NAME = 'thumb.jpg';

/** How often the worker writes a new picture. */
export const THUMBNAIL_EVERY_SECONDS = 4;

/**
 * A picture older than this is not handed out: the worker that wrote it stopped (a crash, a lost
 * ingest) without removing it. Several periods, so a slow disk or a busy worker does not make
 * the URL flicker. API nodes and workers must share a clock (as for viewer lines).
 */
export const THUMBNAIL_STALE_MS = 5 * THUMBNAIL_EVERY_SECONDS * 1000;

export function thumbnailFile(mediaDir: string, playbackId: string): string {
  return path.join(mediaDir, 'hls', playbackId, THUMBNAIL_NAME);
}

/** The playback ids (of those given) whose thumbnail exists and is fresh: one stat each. */
export async function freshThumbnails(mediaDir: string, playbackIds: string[], nowMs = Date.now()): Promise<Set<string>> {
  const fresh = new Set<string>();
  await Promise.all(
    [...new Set(playbackIds)].map(async (id) => {
      const s = await stat(thumbnailFile(mediaDir, id)).catch(() => null);
      if (s?.isFile() && nowMs - s.mtimeMs <= THUMBNAIL_STALE_MS) fresh.add(id);
    }),
  );
  return fresh;
}

/** Whether a stream in this status may show its picture: live, or reconnecting (the picture is its last, while fresh). */
export function showsThumbnail(status: string | null | undefined): boolean {
  return status === 'live' || status === 'reconnecting';
}
