// Recordings as the API serves them: lists (a stream's for admins, a session's for whoever may
// watch it) and deletion. Who may see a session's recordings is the live watch rule
// (src/events/view.ts watchRule): staff, the event's speakers and its joined attendees, never a
// banned one — decided here with the events and moderation services, as for a playbackUrl.
import { roleMay } from '../access.js';
import { PREVIEW_SESSION_ID } from '../analytics/playback.js';
import type { Config } from '../config.js';
import type { Db } from '../db/pool.js';
import { AppError, forbidden, notFound } from '../errors.js';
import type { EventsService } from '../events/service.js';
import type { Log } from '../log.js';
import { bannedError, type ModerationService } from '../moderation/service.js';
import type { Principal } from '../principal.js';
import type { StreamsService } from '../streams/service.js';
import { removeRecordingFiles } from './files.js';
import { deleteRecordingRow, listRecordings, type Recording, type RecordingPage } from './queries.js';

export interface RecordingsList {
  rows: Recording[];
  /** Whose token the URLs carry: the session's, or the staff preview's (never counted). */
  sessionId: string;
}

export interface RecordingsService {
  forStream(streamId: string, page: RecordingPage): Promise<RecordingsList>;
  forSession(me: Principal, sessionId: string, page: RecordingPage): Promise<RecordingsList>;
  /** Deletes the row and the files; 409 `recording_in_progress` while it is still being written. */
  remove(id: string): Promise<void>;
}

export const inProgress = (status: string) =>
  new AppError(409, 'recording_in_progress', `The recording is still ${status === 'recording' ? 'being recorded' : 'being finalised'}; delete it once it is ready or failed.`);

export function createRecordingsService(deps: {
  db: Db;
  config: Pick<Config, 'recordings'>;
  events: Pick<EventsService, 'session'>;
  streams: Pick<StreamsService, 'get'>;
  moderation: Pick<ModerationService, 'isBanned'>;
  log: Log;
  /** After a deletion: the playback gate takes the recording's marker away. */
  afterChange?: () => Promise<void>;
}): RecordingsService {
  const { db } = deps;
  return {
    async forStream(streamId, page) {
      await deps.streams.get(streamId); // 404 for no such stream
      return { rows: await listRecordings(db, { by: 'stream', id: streamId, page }), sessionId: PREVIEW_SESSION_ID };
    },
    async forSession(me, sessionId, page) {
      const { event } = await deps.events.session(me, sessionId); // 404 when the caller may not see the session
      const staff = roleMay(me.role, 'events.seeAll');
      if (!staff && (await deps.moderation.isBanned(event.id, me.id))) throw bannedError();
      if (!staff && !event.speaking && !event.joined) throw forbidden("Join the event to see its sessions' recordings.");
      return { rows: await listRecordings(db, { by: 'session', id: sessionId, page }), sessionId };
    },
    async remove(id) {
      const r = await deleteRecordingRow(db, id);
      if (!r) throw notFound('The recording');
      if (!r.deleted) throw inProgress(r.status);
      // the row is gone first: a failure here leaves an orphan directory, which the retention job removes
      await removeRecordingFiles(deps.config.recordings.dir, id).catch((err: Error) =>
        deps.log.warn({ recordingId: id, err: err.message }, 'A deleted recording’s files could not be removed; the retention job will.'),
      );
      deps.log.info({ recordingId: id }, 'Recording deleted with its files.');
      await deps.afterChange?.();
    },
  };
}
