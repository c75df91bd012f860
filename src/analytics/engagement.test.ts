import t from 'tap';
import { engagementScore } from './engagement.js';

const none = { watchSeconds: 0, messages: 0, votes: 0, questions: 0, upvotes: 0 };

t.test('the score follows the documented formula', async (t) => {
  const scope = { scheduledSeconds: 3600, polls: 4 };
  t.equal(engagementScore(none, scope), 0, 'did nothing');
  t.equal(engagementScore({ watchSeconds: 3600, messages: 10, votes: 4, questions: 3, upvotes: 0 }, scope), 100, 'did everything');
  t.equal(engagementScore({ ...none, watchSeconds: 1800 }, scope), 25, 'watched half: 50 × 0.5');
  t.equal(engagementScore({ ...none, watchSeconds: 99_999 }, scope), 50, 'watching past the schedule counts once');
  t.equal(engagementScore({ ...none, messages: 5, votes: 2 }, scope), 18, '20 × 0.5 + 15 × 0.5 = 17.5 → 18');
  t.equal(engagementScore({ ...none, upvotes: 6 }, scope), 15, 'six upvotes weigh as three questions');
});

t.test('without polls the other parts fill the scale', async (t) => {
  const scope = { scheduledSeconds: 600, polls: 0 };
  t.equal(engagementScore({ watchSeconds: 600, messages: 10, votes: 0, questions: 3, upvotes: 0 }, scope), 100);
  t.equal(engagementScore({ ...none, watchSeconds: 600 }, scope), 59, '50 / 85');
  t.equal(engagementScore({ ...none, watchSeconds: 600 }, { scheduledSeconds: 0, polls: 0 }), 0, 'no schedule: watch adds nothing');
});
