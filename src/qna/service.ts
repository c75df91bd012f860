// Questions in an event session: everyone admitted to the session asks (unless muted or
// banned) and upvotes (one upvote per user per question, kept by the database however many
// arrive at once); staff and the event's speakers mark them answered. REST and WebSocket both
// call these functions. Every change writes its frame to the outbox in its own transaction; the
// frame is published to the session's room after COMMIT (realtime/outbox.ts), so nobody sees a
// question, count or answer that a read would not show, and Redis being down refuses nothing.
import { assertMay } from '../access.js';
import { withTransaction } from '../db/pool.js';
import { AppError, notFound } from '../errors.js';
import type { Principal } from '../principal.js';
import type { ServiceDeps } from '../realtime/deps.js';
import type { QuestionView } from '../realtime/protocol.js';
import * as repo from './repo.js';

export type { QuestionOrder } from './repo.js';

export interface QuestionsService {
  /** Asks a question and announces it (`question:new`). */
  ask(me: Principal, sessionId: string, text: string): Promise<QuestionView>;
  list(me: Principal, sessionId: string, o: { order: repo.QuestionOrder; limit: number; after?: { upvotes: number; at: Date; id: string } }): Promise<QuestionView[]>;
  /**
   * The caller's upvote. Upvoting again is idempotent: nothing changes, nothing is announced,
   * `changed` is false and the answer holds the current count.
   */
  upvote(me: Principal, id: string): Promise<{ question: QuestionView; changed: boolean }>;
  /** Marks the question answered and announces it (`question:answered`); again: nothing changes. */
  answer(me: Principal, id: string): Promise<QuestionView>;
}

export function questionView(q: repo.QuestionRow, upvotedByMe?: boolean): QuestionView {
  return {
    id: q.id,
    sessionId: q.sessionId,
    user: q.user,
    text: q.text,
    upvotes: q.upvotes,
    answered: q.answeredAt !== null,
    createdAt: q.createdAt.toISOString(),
    answeredAt: q.answeredAt?.toISOString() ?? null,
    ...(upvotedByMe !== undefined ? { upvotedByMe } : {}),
  };
}

export function createQuestionsService(deps: ServiceDeps): QuestionsService {
  const { db, log, events, outbox } = deps;

  async function load(me: Principal, id: string) {
    const question = await repo.findQuestion(db, id);
    if (!question) throw notFound('The question');
    const { event } = await events.session(me, question.sessionId).catch((err: unknown) => {
      throw err instanceof AppError && err.status === 404 ? notFound('The question') : err;
    });
    return { question, event };
  }

  return {
    async ask(me, sessionId, text) {
      assertMay(me, 'questions.ask');
      await deps.moderation.take(me, 'question'); // first: a flood is refused before any query
      const { event, session } = await events.session(me, sessionId);
      await deps.moderation.assertMayPost(me, event.id, 'question');
      const view = await withTransaction(db, async (client) => {
        const view = questionView(await repo.insertQuestion(client, { sessionId: session.id, userId: me.id, text }));
        await outbox.add(client, session.id, { type: 'question:new', question: view });
        return view;
      });
      outbox.kick(session.id);
      log.info({ questionId: view.id, sessionId: session.id, userId: me.id }, 'A question was asked.');
      return { ...view, upvotedByMe: false };
    },

    async list(me, sessionId, o) {
      const { session } = await events.session(me, sessionId);
      assertMay(me, 'questions.read');
      const rows = await repo.listQuestions(db, { ...o, sessionId: session.id, userId: me.id });
      return rows.map((q) => questionView(q, q.upvotedByMe ?? false));
    },

    async upvote(me, id) {
      assertMay(me, 'questions.upvote');
      await deps.moderation.take(me, 'upvote'); // first: a flood is refused before any query
      const { question, event } = await load(me, id);
      await deps.moderation.assertMayPost(me, event.id, 'upvote');
      const upvotes = await withTransaction(db, async (client) => {
        if (!(await repo.insertUpvote(client, question.id, me.id))) return null;
        const upvotes = await repo.countUpvote(client, question.id);
        if (upvotes === null) throw notFound('The question');
        // The question's row stays locked until COMMIT: its upvote frames are committed, and go out, in counting order.
        await outbox.add(client, question.sessionId, { type: 'question:upvote', question: { id: question.id, sessionId: question.sessionId, upvotes } });
        return upvotes;
      });
      if (upvotes !== null) outbox.kick(question.sessionId);
      if (upvotes === null) {
        const current = (await repo.findQuestion(db, id)) ?? question;
        return { question: questionView(current, true), changed: false };
      }
      return { question: questionView({ ...question, upvotes }, true), changed: true };
    },

    async answer(me, id) {
      const { question, event } = await load(me, id);
      assertMay(me, 'questions.answer', { eventSpeaker: event.speaking });
      const answered = await withTransaction(db, async (client) => {
        const answered = await repo.markAnswered(client, question.id, me.id);
        if (!answered) return null;
        const view = questionView(answered);
        await outbox.add(client, question.sessionId, { type: 'question:answered', question: view });
        return answered;
      });
      if (answered) outbox.kick(question.sessionId);
      const current = answered ?? (await repo.findQuestion(db, id)) ?? question;
      if (answered) log.info({ questionId: id, userId: me.id }, 'A question was marked answered.');
      return questionView(current, await repo.hasUpvoted(db, id, me.id));
    },
  };
}
