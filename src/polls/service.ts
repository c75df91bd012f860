// Polls in an event session: speakers and staff open them, everyone admitted to the session
// votes (one vote per user per poll, which the database keeps however many arrive at once;
// voting again moves it), and everyone in the session's room watches the counts move.
// REST and WebSocket both call these functions. Who may read and vote follows the event's
// visibility (events.session: 404 for those who may not see it); banned users may not vote.
// Every frame (poll:new, poll:vote, poll:closed) is written to the outbox in the transaction of
// the change it reports and published after COMMIT (realtime/outbox.ts): nobody sees a poll or a
// count that a read of the poll would not show, and Redis being down delays frames, refuses nothing.
import { assertMay } from '../access.js';
import { withTransaction } from '../db/pool.js';
import { AppError, badRequest, conflict, notFound } from '../errors.js';
import type { Page } from '../events/caller.js';
import type { Principal } from '../principal.js';
import type { ServiceDeps } from '../realtime/deps.js';
import type { PollView } from '../realtime/protocol.js';
import * as repo from './repo.js';
import { createVoteBroadcaster } from './vote-broadcaster.js';

export interface PollInput {
  sessionId: string;
  question: string;
  options: string[];
}

export interface PollsService {
  /** Opens a poll and announces it (`poll:new`) to the session's room. */
  create(me: Principal, input: PollInput): Promise<PollView>;
  /** The session's polls in creation order, each with the caller's vote. */
  list(me: Principal, sessionId: string, o: Page): Promise<PollView[]>;
  get(me: Principal, id: string): Promise<PollView>;
  /** Casts or moves the caller's vote; answers the poll's exact counts at that moment and the caller's vote. */
  vote(me: Principal, id: string, optionId: string): Promise<PollView>;
  /** Closes the poll (again: nothing changes) and announces the final counts (`poll:closed`). */
  close(me: Principal, id: string): Promise<PollView>;
}

export function pollView(poll: repo.PollRow, counts: repo.OptionCount[], myVote?: string | null): PollView {
  const options = counts.filter((c) => c.pollId === poll.id).map((c) => ({ id: c.id, text: c.text, votes: c.votes }));
  return {
    id: poll.id,
    sessionId: poll.sessionId,
    question: poll.question,
    options,
    totalVotes: options.reduce((n, o) => n + o.votes, 0),
    closed: poll.closedAt !== null,
    createdAt: poll.createdAt.toISOString(),
    closedAt: poll.closedAt?.toISOString() ?? null,
    ...(myVote !== undefined ? { myVote } : {}),
  };
}

const fieldError = (field: string, message: string) => badRequest(message, { errors: [{ field: `body.${field}`, message }] });

export function createPollsService(deps: ServiceDeps): PollsService {
  const { db, log, events } = deps;
  const { outbox } = deps;
  const broadcaster = createVoteBroadcaster({ db, outbox, log, view: (p, c) => pollView(p, c) });

  /** The poll, and its event as the caller sees it (404 when they may not see it). */
  async function load(me: Principal, id: string) {
    const poll = await repo.findPoll(db, id);
    if (!poll) throw notFound('The poll');
    const { event } = await events.session(me, poll.sessionId).catch((err: unknown) => {
      throw err instanceof AppError && err.status === 404 ? notFound('The poll') : err;
    });
    return { poll, event };
  }

  async function withCounts(poll: repo.PollRow, me: Principal): Promise<PollView> {
    const [counts, mine] = await Promise.all([repo.optionCounts(db, [poll.id]), repo.votesOf(db, [poll.id], me.id)]);
    return pollView(poll, counts, mine.get(poll.id) ?? null);
  }

  return {
    async create(me, input) {
      const { event, session } = await events.session(me, input.sessionId);
      assertMay(me, 'polls.create', { eventSpeaker: event.speaking });
      if (new Set(input.options).size !== input.options.length) throw fieldError('options', 'options must differ from each other');
      const view = await withTransaction(db, async (client) => {
        const poll = await repo.insertPoll(client, { sessionId: session.id, question: input.question, createdBy: me.id });
        await repo.insertOptions(client, poll.id, input.options);
        const view = pollView(poll, await repo.optionCounts(client, [poll.id]));
        await outbox.add(client, session.id, { type: 'poll:new', poll: view });
        return view;
      });
      outbox.kick(session.id);
      log.info({ pollId: view.id, sessionId: session.id, userId: me.id }, 'Opened a poll.');
      return { ...view, myVote: null };
    },

    async list(me, sessionId, o) {
      const { session } = await events.session(me, sessionId);
      assertMay(me, 'polls.read');
      const polls = await repo.listPolls(db, session.id, o);
      const ids = polls.map((p) => p.id);
      const [counts, mine] = await Promise.all([repo.optionCounts(db, ids), repo.votesOf(db, ids, me.id)]);
      return polls.map((p) => pollView(p, counts, mine.get(p.id) ?? null));
    },

    async get(me, id) {
      const { poll } = await load(me, id);
      assertMay(me, 'polls.read');
      return withCounts(poll, me);
    },

    async vote(me, id, optionId) {
      assertMay(me, 'polls.vote');
      await deps.moderation.take(me, 'vote'); // first: a flood is refused before any query
      const { poll, event } = await load(me, id);
      await deps.moderation.assertMayPost(me, event.id, 'vote');
      if (!(await repo.isOptionOf(db, poll.id, optionId))) throw fieldError('optionId', 'optionId is not an option of this poll');
      const { view, changed } = await withTransaction(db, async (client) => {
        const locked = await repo.lockPoll(client, poll.id, 'SHARE');
        if (!locked) throw notFound('The poll');
        if (locked.closedAt) throw conflict('This poll is closed; it takes no more votes.', 'poll_closed');
        const changed = await repo.upsertVote(client, { pollId: poll.id, userId: me.id, optionId });
        return { changed, view: pollView(locked, await repo.optionCounts(client, [poll.id]), optionId) };
      });
      if (changed) broadcaster.changed(poll.id);
      return view;
    },

    async close(me, id) {
      const { poll, event } = await load(me, id);
      assertMay(me, 'polls.close', { eventSpeaker: event.speaking });
      const view = await withTransaction(db, async (client) => {
        // Waits for votes in flight; none is accepted after this commits.
        const locked = await repo.lockPoll(client, poll.id, 'NO KEY UPDATE');
        if (!locked) throw notFound('The poll');
        if (locked.closedAt) return null;
        const closed = (await repo.closePoll(client, poll.id))!;
        const view = pollView(closed, await repo.optionCounts(client, [poll.id]));
        await outbox.add(client, poll.sessionId, { type: 'poll:closed', poll: view });
        return view;
      });
      if (view) outbox.kick(poll.sessionId);
      if (!view) return withCounts((await repo.findPoll(db, poll.id)) ?? poll, me);
      log.info({ pollId: poll.id, userId: me.id, totalVotes: view.totalVotes }, 'Closed a poll.');
      return { ...view, myVote: (await repo.votesOf(db, [poll.id], me.id)).get(poll.id) ?? null };
    },
  };
}
