// HTTP for viewer analytics: per event and per session, the player heartbeat, and the user
// activity report (JSON or CSV).
import { z } from 'zod';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { idParams, problems, uuid } from '../http/schemas.js';
import { activityCsv, activityRowSchema } from './report.js';
import { HEARTBEAT_SECONDS, type AnalyticsService } from './service.js';
import { eventAnalyticsSchema, heartbeatAnswerSchema, sessionAnalyticsSchema } from './view.js';

const figuresQuery = z
  .object({
    top: z.coerce
      .number({ message: 'top must be a number' })
      .int('top must be a whole number')
      .min(0, 'top is at least 0')
      .max(5000, 'top is at most 5000')
      .default(100)
      .describe('How many attendees the engagement list keeps, highest score first (default 100).'),
  })
  .strict();
const reportQuery = z
  .object({
    format: z.enum(['json', 'csv'], { message: 'format must be json or csv' }).default('json'),
    eventId: uuid('eventId').optional().describe('Only this event: its attendees and what they did in it.'),
  })
  .strict();
const heartbeatBody = z.object({ sessionId: uuid('sessionId') }).strict();

const METHOD =
  'Viewers are counted from what their players do: every HLS request made with the personal playbackUrl (nginx checks its token and reports the request), ' +
  'or a heartbeat from our web player. A viewer is watching while a request or heartbeat came in the last 20 s; watch time adds the gaps between them up to 20 s. ' +
  'See the README, "Viewer analytics", for the error bounds.';

export function analyticsEndpoints(deps: { analytics: AnalyticsService }): Endpoint[] {
  const { analytics } = deps;
  return [
    endpoint({
      method: 'get', path: '/analytics/events/:id', action: 'analytics.read', tag: 'analytics',
      summary: 'Viewers, watch time, activity and engagement of an event',
      description: METHOD,
      params: idParams,
      query: figuresQuery,
      answers: { 200: { description: 'The event’s figures.', schema: eventAnalyticsSchema }, ...problems(400, 401, 403, 404, 503) },
      async handle({ params, query, me, res }) {
        res.json(await analytics.event(me, params.id, query));
      },
    }),
    endpoint({
      method: 'get', path: '/analytics/sessions/:id', action: 'analytics.read', tag: 'analytics',
      summary: 'Viewers, watch time, activity, engagement and stream statistics of a session',
      description: METHOD,
      params: idParams,
      query: figuresQuery,
      answers: { 200: { description: 'The session’s figures.', schema: sessionAnalyticsSchema }, ...problems(400, 401, 403, 404, 503) },
      async handle({ params, query, me, res }) {
        res.json(await analytics.session(me, params.id, query));
      },
    }),
    endpoint({
      method: 'post', path: '/analytics/heartbeat', action: 'analytics.heartbeat', tag: 'analytics',
      summary: 'Our player’s “still watching” signal',
      description:
        `Send every ${HEARTBEAT_SECONDS} s while the video plays. Counts the caller as one viewer of the session (however many players or heartbeats); ` +
        'a heartbeat within 4 s of the last counted one gets 429. Players that fetch the personal playbackUrl are counted without heartbeats.',
      body: heartbeatBody,
      answers: { 202: { description: 'Counted.', schema: heartbeatAnswerSchema }, ...problems(400, 401, 404, 409, 413, 415, 429, 503) },
      async handle({ body, me, res }) {
        res.status(202).json(await analytics.heartbeat(me, body.sessionId));
      },
    }),
    endpoint({
      method: 'get', path: '/analytics/users/report', action: 'analytics.report', tag: 'analytics',
      summary: 'User activity report (JSON or CSV)',
      description:
        'Per user: events joined, sessions watched, watch time, messages, votes, questions, upvotes, last seen. ' +
        '`format=csv` downloads the same rows as CSV (RFC 4180, UTF-8; cells that a spreadsheet would run as a formula start with an apostrophe).',
      query: reportQuery,
      answers: { 200: { description: 'The report.', schema: z.object({ items: z.array(activityRowSchema) }), alsoAs: ['text/csv'] }, ...problems(400, 401, 403) },
      async handle({ query, res }) {
        const rows = await analytics.report({ eventId: query.eventId });
        if (query.format === 'json') return void res.json({ items: rows });
        res.type('text/csv; charset=utf-8');
        res.set('Content-Disposition', `attachment; filename="onair-user-activity${query.eventId ? `-${query.eventId}` : ''}.csv"`);
        res.send(activityCsv(rows));
      },
    }),
  ];
}
