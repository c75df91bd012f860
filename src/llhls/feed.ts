// The LL-HLS feed: how the worker's packager tells the playlist origin that a rendition moved on.
// One owner of this layout (the worker publishes it, the origin reads it; nothing else does).
//
// After every part a rendition's packager writes the part's file (and, at a cut, the segment's)
// under MEDIA_DIR/hls/<playbackId>/<rendition>/, then publishes one `llhls.part` bus message with
// the whole media playlist as it now reads, and stores the same message under `lastKey` (so an
// origin that starts, restarts or missed a message answers from the newest state; kept a while
// after the end so the final playlist, with EXT-X-ENDLIST, still answers).
//
// The origin holds blocking playlist requests (`_HLS_msn`/`_HLS_part`) and requests for the hinted
// part until a message satisfies them; it renders nothing itself — the worker renders each
// playlist once per part and every waiting viewer gets the same text.
import { z } from 'zod';
import { PLAYBACK_ID_PATTERN } from '../streams/keys.js';

export const RENDITION_PATTERN = /^[a-z0-9]{1,16}$/;
/** File names of media the packager writes (init sections, parts, segments): no path, no dots but the extension. */
export const LL_MEDIA_NAME_PATTERN = /^[a-z0-9-]{1,64}(\.[0-9]{1,5})?\.(mp4|m4s)$/;
/** A media playlist is a few KB; anything bigger is not ours. */
export const LL_PLAYLIST_MAX_BYTES = 256 * 1024;

export const llPartMessage = z
  .object({
    v: z.literal(1),
    playbackId: z.string().regex(PLAYBACK_ID_PATTERN),
    rendition: z.string().regex(RENDITION_PATTERN),
    /**
     * The publish's presentation (e.g. the publish session's tag): when it changes, the origin
     * forgets the old state of this playback id and rendition (a new broadcast under the same URL).
     */
    presentation: z.string().regex(/^[a-z0-9]{1,32}$/),
    /** The newest part in the playlist: its segment's media sequence number and its index in that segment. */
    msn: z.number().int().min(0),
    part: z.number().int().min(0),
    /** The file name of the newest part (what a held request for the hinted part waits for). */
    partName: z.string().regex(LL_MEDIA_NAME_PATTERN),
    /** The part the playlist's EXT-X-PRELOAD-HINT names; null once ended. */
    hint: z.string().regex(LL_MEDIA_NAME_PATTERN).nullable(),
    /** The playlist ends (EXT-X-ENDLIST): blocking directives are ignored from now on. */
    ended: z.boolean(),
    /** Seconds, fixed for the presentation: the 503 timeout is 3 × this. */
    targetDuration: z.number().positive().max(30),
    partTarget: z.number().positive().max(5),
    /** The media playlist text, complete. */
    playlist: z.string().max(LL_PLAYLIST_MAX_BYTES),
    /** When the worker published it (ms since the epoch), for the origin's lag metric. */
    at: z.number().int().positive(),
  })
  .strict();
export type LlPartMessage = z.infer<typeof llPartMessage>;

/** Where the newest message per rendition is kept (under the instance's Redis prefix). */
export const lastKey = (prefix: string, playbackId: string, rendition: string) => `${prefix}:llhls:last:${playbackId}:${rendition}`;
/** How long the newest message outlives the publish (the final playlist keeps answering). */
export const LAST_TTL_SECONDS = 3600;
