// Coalesced `poll:vote` broadcasts. A vote does not publish its own frame (a thousand votes
// would be a thousand frames to every viewer); it marks its poll changed, and this node
// publishes the poll's counts at most once per interval, always once more after the last
// change it saw.
//
// Why the last frame anyone sees holds the exact totals: a broadcast locks the poll row (NO KEY
// UPDATE, one broadcast at a time across all nodes), counts the votes and writes its frame to
// the outbox before it commits and unlocks. So the frames of one poll are committed, and the
// outbox publishes them, in the order they counted, each counting at least what the one before
// it did (and only committed votes). Every committed vote is followed by a broadcast on its
// node that counts after that commit; the last broadcast therefore counts every vote.
import { withTransaction, type Pool } from '../db/pool.js';
import type { Log } from '../log.js';
import type { Outbox } from '../realtime/outbox.js';
import type { PollView } from '../realtime/protocol.js';
import * as repo from './repo.js';

export interface VoteBroadcaster {
  /** The poll's votes changed (after the change committed). */
  changed(pollId: string): void;
}

interface PollState {
  dirty: boolean;
  running: boolean;
  timer: NodeJS.Timeout | null;
  lastAt: number;
  failures: number;
}

const MAX_FAILURES = 30;

export function createVoteBroadcaster(o: {
  db: Pool;
  outbox: Outbox;
  log: Log;
  view: (poll: repo.PollRow, counts: repo.OptionCount[]) => PollView;
  intervalMs?: number;
}): VoteBroadcaster {
  const interval = o.intervalMs ?? 200;
  const polls = new Map<string, PollState>();

  /** Counts and writes the frame under the poll's row lock; a closed poll had its final frame (poll:closed). */
  const broadcast = async (pollId: string) => {
    const sessionId = await withTransaction(o.db, async (client) => {
      const poll = await repo.lockPoll(client, pollId, 'NO KEY UPDATE');
      if (!poll || poll.closedAt) return null;
      const view = o.view(poll, await repo.optionCounts(client, [pollId]));
      await o.outbox.add(client, poll.sessionId, { type: 'poll:vote', poll: view });
      return poll.sessionId;
    });
    if (sessionId) o.outbox.kick(sessionId);
  };

  // After every broadcast a timer waits one interval: changes meanwhile are sent when it fires,
  // otherwise the poll is forgotten.
  const arm = (pollId: string, s: PollState, wait: number) => {
    s.timer = setTimeout(() => {
      s.timer = null;
      if (!s.dirty) return void polls.delete(pollId);
      void run(pollId, s);
    }, wait);
    s.timer.unref();
  };

  async function run(pollId: string, s: PollState) {
    s.running = true;
    s.dirty = false;
    s.lastAt = Date.now();
    try {
      await broadcast(pollId);
      s.failures = 0;
    } catch (err) {
      // Postgres away: try again each second for a while; the next vote starts it again anyway.
      s.failures += 1;
      s.dirty = s.failures < MAX_FAILURES;
      o.log.warn({ pollId, err: (err as Error).message, failures: s.failures }, 'Could not broadcast a poll’s votes; will retry.');
    } finally {
      s.running = false;
    }
    arm(pollId, s, s.failures > 0 ? 1_000 : interval);
  }

  return {
    changed(pollId) {
      let s = polls.get(pollId);
      if (!s) polls.set(pollId, (s = { dirty: false, running: false, timer: null, lastAt: 0, failures: 0 }));
      s.dirty = true;
      if (!s.timer && !s.running) arm(pollId, s, Math.max(0, s.lastAt + interval - Date.now()));
    },
  };
}
