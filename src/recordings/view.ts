// What a recording looks like on the wire, and the schema that documents it.
import { z } from 'zod';
import { isoDate } from '../http/schemas.js';
import { RECORDING_STATUSES, type Recording } from './queries.js';
import { recordingUrls, type UrlConfig } from './urls.js';

const PERSONAL =
  'Personal, like a live playbackUrl: it carries your playback token, so do not share it. Null until the recording is ready.';

export const recordingSchema = z.object({
  id: z.uuid(),
  status: z.enum(RECORDING_STATUSES).describe('recording: being written during the live; finalising: the replay and download are being made; ready; failed.'),
  startedAt: isoDate,
  endedAt: isoDate.nullable(),
  durationSeconds: z.number().nullable(),
  sizeBytes: z.number().int().describe('Disk space the recording takes (segments, MP4 and poster).'),
  renditions: z.array(z.object({ name: z.string(), width: z.number(), height: z.number(), bandwidth: z.number(), codecs: z.string(), frameRate: z.number() })),
  posterUrl: z.string().nullable().describe(`A JPEG still. ${PERSONAL}`),
  replayUrl: z.string().nullable().describe(`The VOD HLS master playlist, every rung the live had. ${PERSONAL} Replay counts in analytics like live watching.`),
  downloadUrl: z.string().nullable().describe(`The MP4 (faststart), served as an attachment with a file name. ${PERSONAL}`),
});

/** A recording for a caller; `sessionId` is whose token the URLs carry (the recording's session, or the staff preview's). */
export function recordingView(config: UrlConfig, r: Recording, who: { sessionId: string; userId: string }): z.output<typeof recordingSchema> {
  const urls = r.status === 'ready' ? recordingUrls(config, { recording: r, sessionId: who.sessionId, userId: who.userId }) : null;
  return {
    id: r.id,
    status: r.status,
    startedAt: r.startedAt.toISOString(),
    endedAt: r.endedAt ? r.endedAt.toISOString() : null,
    durationSeconds: r.durationSeconds,
    sizeBytes: r.sizeBytes,
    renditions: r.renditions.map((x) => ({ name: x.name, width: x.width, height: x.height, bandwidth: x.bandwidth, codecs: x.codecs, frameRate: x.frameRate })),
    posterUrl: urls?.posterUrl ?? null,
    replayUrl: urls?.replayUrl ?? null,
    downloadUrl: urls?.downloadUrl ?? null,
  };
}
