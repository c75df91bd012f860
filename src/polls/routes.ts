// HTTP for polls. The same service functions serve the WebSocket frames (ws.ts).
import { z } from 'zod';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, idParams, page, pageQuery, problems, timeIdCursor, toPage, uuid } from '../http/schemas.js';
import { POLL_OPTIONS_MAX, pollSchema } from '../realtime/protocol.js';
import type { PollsService } from './service.js';

// The same limits as the poll:create frame in protocol.ts.
const createBody = z
  .object({
    sessionId: uuid('sessionId'),
    question: z
      .string({ message: 'question must be a string' })
      .max(300, 'question is at most 300 characters')
      .refine((s) => s.trim().length > 0, 'question must not be empty'),
    options: z
      .array(z.string({ message: 'each option must be a string' }).trim().min(1, 'an option must not be empty').max(100, 'an option is at most 100 characters'), {
        message: 'options must be a list of texts',
      })
      .min(2, 'options needs at least 2 choices')
      .max(POLL_OPTIONS_MAX, `options takes at most ${POLL_OPTIONS_MAX} choices`),
  })
  .strict();
const voteBody = z.object({ optionId: uuid('optionId') }).strict();
const pageOnly = z.object(pageQuery).strict();

export function pollsEndpoints(deps: { polls: PollsService }): Endpoint[] {
  const { polls } = deps;
  return [
    endpoint({
      method: 'post', path: '/polls', action: 'polls.create', tag: 'polls',
      summary: 'Open a poll in a session (staff or a speaker of the event)',
      description: 'Announced to the session’s room as `poll:new`. Options (2–10) keep the order given; their text is stored as sent, trimmed.',
      body: createBody,
      answers: { 201: { description: 'Opened.', schema: pollSchema }, ...problems(400, 401, 403, 404, 413, 415, 503) },
      async handle({ body, me, res }) {
        res.status(201).json(await polls.create(me, body));
      },
    }),
    endpoint({
      method: 'get', path: '/polls/session/:id', action: 'polls.read', tag: 'polls',
      summary: 'The session’s polls in the order they were opened, with counts and your vote',
      params: idParams,
      query: pageOnly,
      answers: { 200: { description: 'A page of polls.', schema: page(pollSchema) }, ...problems(400, 401, 404) },
      async handle({ params, query, me, res }) {
        const after = decodeCursor(query.cursor, timeIdCursor);
        const rows = await polls.list(me, params.id, { limit: query.limit + 1, after: after && { at: after[0], id: after[1] } });
        res.json(toPage(rows, query.limit, (p) => p, (p) => [p.createdAt, p.id]));
      },
    }),
    endpoint({
      method: 'get', path: '/polls/:id', action: 'polls.read', tag: 'polls',
      summary: 'One poll with its counts and your vote',
      params: idParams,
      answers: { 200: { description: 'The poll.', schema: pollSchema }, ...problems(400, 401, 404) },
      async handle({ params, me, res }) {
        res.json(await polls.get(me, params.id));
      },
    }),
    endpoint({
      method: 'post', path: '/polls/:id/vote', action: 'polls.vote', tag: 'polls',
      summary: 'Vote (one vote per user; voting again moves it)',
      description:
        'Answers the poll with its exact counts at that moment and `myVote`. The room sees `poll:vote` frames with the latest counts, ' +
        'at most one per poll every 200 ms from each API node and always one after the last vote. A closed poll refuses votes (409 poll_closed); a banned user gets 403 banned; past RATE_LIMIT_VOTE, 429 rate_limited.',
      params: idParams,
      body: voteBody,
      answers: { 200: { description: 'Your vote counts.', schema: pollSchema }, ...problems(400, 401, 403, 404, 409, 413, 415, 429, 503) },
      async handle({ params, body, me, res }) {
        res.json(await polls.vote(me, params.id, body.optionId));
      },
    }),
    endpoint({
      method: 'post', path: '/polls/:id/close', action: 'polls.close', tag: 'polls',
      summary: 'Close a poll (staff or a speaker of the event); closing again changes nothing',
      description: 'Announced with the final counts as `poll:closed`.',
      params: idParams,
      answers: { 200: { description: 'The closed poll.', schema: pollSchema }, ...problems(400, 401, 403, 404, 503) },
      async handle({ params, me, res }) {
        res.json(await polls.close(me, params.id));
      },
    }),
  ];
}
