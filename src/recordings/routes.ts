// HTTP for recordings: a stream's (admins), a session's (whoever may watch it), and deletion.
import { z } from 'zod';
import type { Config } from '../config.js';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, idParams, page, pageQuery, problems, timeIdCursor, toPage } from '../http/schemas.js';
import type { Recording } from './queries.js';
import type { RecordingsList, RecordingsService } from './service.js';
import { recordingSchema, recordingView } from './view.js';

const pageOnly = z.object(pageQuery).strict();

export function recordingEndpoints(deps: { recordings: RecordingsService; config: Config }): Endpoint[] {
  const answer = (list: RecordingsList, limit: number, me: { id: string }) =>
    toPage(list.rows, limit, (r: Recording) => recordingView(deps.config, r, { sessionId: list.sessionId, userId: me.id }), (r) => [r.startedAt, r.id]);
  const pageOf = (q: { limit: number; cursor?: string }) => {
    const after = decodeCursor(q.cursor, timeIdCursor);
    return { limit: q.limit + 1, after: after && { startedAt: after[0], id: after[1] } };
  };
  return [
    endpoint({
      method: 'get', path: '/streams/:id/recordings', action: 'streams.recordings', tag: 'recordings',
      summary: "The stream's recordings, newest first",
      description: 'The URLs are staff previews: they play whatever the session window, and are never counted as viewers.',
      params: idParams,
      query: pageOnly,
      answers: { 200: { description: 'A page of recordings.', schema: page(recordingSchema) }, ...problems(400, 401, 403, 404) },
      async handle({ params, query, me, res }) {
        res.json(answer(await deps.recordings.forStream(params.id, pageOf(query)), query.limit, me));
      },
    }),
    endpoint({
      method: 'get', path: '/sessions/:id/recordings', action: 'sessions.recordings', tag: 'recordings',
      summary: "The session's recordings, newest first, with your own replay and download URLs",
      description:
        'For who may watch the session: staff, its event’s speakers and joined attendees (403 `forbidden` otherwise, `banned` for a banned attendee). ' +
        'Replay plays after the event; a ban stops a replay URL at nginx within seconds.',
      params: idParams,
      query: pageOnly,
      answers: { 200: { description: 'A page of recordings.', schema: page(recordingSchema) }, ...problems(400, 401, 403, 404) },
      async handle({ params, query, me, res }) {
        res.json(answer(await deps.recordings.forSession(me, params.id, pageOf(query)), query.limit, me));
      },
    }),
    endpoint({
      method: 'delete', path: '/recordings/:id', action: 'recordings.delete', tag: 'recordings',
      summary: 'Delete a recording: its files and its row',
      description: '409 `recording_in_progress` while it is being recorded or finalised.',
      params: idParams,
      answers: { 204: { description: 'Deleted.' }, ...problems(400, 401, 403, 404, 409) },
      async handle({ params, res }) {
        await deps.recordings.remove(params.id);
        res.status(204).end();
      },
    }),
  ];
}
