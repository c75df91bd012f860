// A recording's replay, poster and download URLs. They are personal exactly like a live
// playbackUrl (src/analytics/playback.ts): /replay/<recordingId>/v/<viewerId>.<expires>.<signature>/…
// with the signature nginx's secure_link_md5 checks. What is signed is "replay/<recordingId>" in
// the place of a live playback id: a playback id never holds a "/", so a live token can never
// open a recording and a replay token never opens a live stream (or another recording).
// Replay is served from its own path out of RECORDINGS_DIR (nginx/onair.conf.template), never
// under the live /hls/<playbackId>/.
import { signPlaybackToken } from '../analytics/playback.js';
import type { Config } from '../config.js';

export type UrlConfig = Pick<Config, 'hlsHost' | 'publicScheme' | 'playbackTokens' | 'playbackSecret'>;

/** What the signature of a recording's URLs covers in the place of a playback id. */
export const replayKey = (recordingId: string) => `replay/${recordingId}`;

/** The file name a download is saved as (nginx sends it in Content-Disposition). */
export function downloadName(r: { id: string; startedAt: Date }): string {
  return `onair-${r.startedAt.toISOString().slice(0, 10)}-${r.id.slice(0, 8)}.mp4`;
}

export interface RecordingUrls {
  replayUrl: string;
  posterUrl: string;
  downloadUrl: string;
}

/** The caller's own URLs of one recording: `sessionId` is the recording's session, or the staff preview's. */
export function recordingUrls(config: UrlConfig, o: { recording: { id: string; startedAt: Date }; sessionId: string; userId: string }): RecordingUrls {
  const token = config.playbackTokens ? signPlaybackToken(config.playbackSecret, { playbackId: replayKey(o.recording.id), sessionId: o.sessionId, userId: o.userId }) : null;
  const base = `${config.publicScheme}://${config.hlsHost}/replay/${o.recording.id}/${token ? `v/${token}/` : ''}`;
  return { replayUrl: `${base}master.m3u8`, posterUrl: `${base}poster.jpg`, downloadUrl: `${base}download/${downloadName(o.recording)}` };
}
