// The packager's one typed error. A malformed fragmented-MP4 stream (a crashed or misconfigured
// ffmpeg, a pipe that ended mid-box, bytes that are no MP4 at all) is reported as an AppError the
// caller catches around push()/end() and turns into "this rendition's run failed", never a crash.
import { AppError } from '../errors.js';

export type Mp4ErrorReason =
  | 'truncated' // the stream ended inside a box
  | 'too_large' // a box bigger than the splitter's limit (bounded memory)
  | 'malformed' // a size or type no MP4 writer produces, or a box whose fields run past its end
  | 'unexpected'; // boxes in an order the packager cannot use (a moof before the moov, …)

export class Mp4FormatError extends AppError {
  constructor(
    readonly reason: Mp4ErrorReason,
    message: string,
  ) {
    super(422, 'bad_media', message, { reason });
    this.name = 'Mp4FormatError';
  }
}
