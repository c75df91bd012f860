// HTTP for questions (Q&A). The same service functions serve the WebSocket frames (ws.ts).
import { z } from 'zod';
import { badRequest } from '../errors.js';
import { endpoint, type Endpoint } from '../http/endpoint.js';
import { decodeCursor, idParams, page, pageQuery, problems, timeIdCursor, toPage } from '../http/schemas.js';
import { QUESTION_TEXT_MAX, questionSchema } from '../realtime/protocol.js';
import type { QuestionsService } from './service.js';

// The same limits as the question:ask frame in protocol.ts.
const askBody = z
  .object({
    text: z
      .string({ message: 'text must be a string' })
      .max(QUESTION_TEXT_MAX, `text is at most ${QUESTION_TEXT_MAX} characters`)
      .refine((s) => s.trim().length > 0, 'text must not be empty'),
  })
  .strict();
const ORDERS = ['top', 'new'] as const;
const listQuery = z
  .object({ order: z.enum(ORDERS, { message: 'order must be top or new' }).default('top'), ...pageQuery })
  .strict();
const cursorParts = [z.enum(ORDERS), z.number().int(), ...timeIdCursor] as const;

export function qnaEndpoints(deps: { qna: QuestionsService }): Endpoint[] {
  const { qna } = deps;
  return [
    endpoint({
      method: 'post', path: '/questions/session/:id', action: 'questions.ask', tag: 'questions',
      summary: 'Ask a question in a session',
      description: 'Announced to the session’s room as `question:new`. The text is stored as sent. Muted or banned users get 403 `muted` / `banned`; past RATE_LIMIT_QUESTION, 429 `rate_limited`.',
      params: idParams,
      body: askBody,
      answers: { 201: { description: 'Asked.', schema: questionSchema }, ...problems(400, 401, 403, 404, 413, 415, 429, 503) },
      async handle({ params, body, me, res }) {
        res.status(201).json(await qna.ask(me, params.id, body.text));
      },
    }),
    endpoint({
      method: 'get', path: '/questions/session/:id', action: 'questions.read', tag: 'questions',
      summary: 'The session’s questions: most upvoted first (order=top, the default) or newest first (order=new)',
      description: 'Each with `upvotedByMe`. With order=top, upvotes arriving while you page can move a question across pages.',
      params: idParams,
      query: listQuery,
      answers: { 200: { description: 'A page of questions.', schema: page(questionSchema) }, ...problems(400, 401, 404) },
      async handle({ params, query, me, res }) {
        const after = decodeCursor(query.cursor, cursorParts);
        if (after && after[0] !== query.order) throw badRequest('The request query is not valid.', { errors: [{ field: 'query.cursor', message: 'this cursor belongs to another order' }] });
        const rows = await qna.list(me, params.id, { order: query.order, limit: query.limit + 1, after: after && { upvotes: after[1], at: after[2], id: after[3] } });
        res.json(toPage(rows, query.limit, (q) => q, (q) => [query.order, q.upvotes, q.createdAt, q.id]));
      },
    }),
    endpoint({
      method: 'post', path: '/questions/:id/upvote', action: 'questions.upvote', tag: 'questions',
      summary: 'Upvote a question (once per user; again changes nothing)',
      description:
        'The first upvote answers 200 with the new count and is announced as `question:upvote`. Upvoting again is idempotent: ' +
        '200 with the current count, nothing announced. Banned users get 403 `banned`; past RATE_LIMIT_UPVOTE, 429 `rate_limited`.',
      params: idParams,
      answers: { 200: { description: 'The question with its count.', schema: questionSchema }, ...problems(400, 401, 403, 404, 429, 503) },
      async handle({ params, me, res }) {
        res.json((await qna.upvote(me, params.id)).question);
      },
    }),
    endpoint({
      method: 'post', path: '/questions/:id/answer', action: 'questions.answer', tag: 'questions',
      summary: 'Mark a question answered (staff or a speaker of the event); again changes nothing',
      description: 'Announced as `question:answered`.',
      params: idParams,
      answers: { 200: { description: 'The answered question.', schema: questionSchema }, ...problems(400, 401, 403, 404, 503) },
      async handle({ params, me, res }) {
        res.json(await qna.answer(me, params.id));
      },
    }),
  ];
}
