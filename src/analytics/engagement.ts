// The engagement score of one person in an event or session, 0–100. The README's "Viewer
// analytics" section documents the same formula; ENGAGEMENT_FORMULA is what the API shows.
import type { PersonActivity } from './repo.js';

export const ENGAGEMENT_FORMULA =
  'score = 100 × (50·watch + 20·chat + 15·polls + 15·questions) / (85 + 15 if the scope had polls), where ' +
  'watch = min(1, watched seconds / scheduled seconds of the sessions), chat = min(1, messages / 10), ' +
  'polls = votes / polls held, questions = min(1, (questions asked + upvotes given / 2) / 3); rounded to a whole number.';

export interface Scope {
  scheduledSeconds: number;
  polls: number;
}

export function engagementScore(p: Pick<PersonActivity, 'watchSeconds' | 'messages' | 'votes' | 'questions' | 'upvotes'>, scope: Scope): number {
  const watch = scope.scheduledSeconds > 0 ? Math.min(1, p.watchSeconds / scope.scheduledSeconds) : 0;
  const chat = Math.min(1, p.messages / 10);
  const polls = scope.polls > 0 ? Math.min(1, p.votes / scope.polls) : 0;
  const questions = Math.min(1, (p.questions + p.upvotes / 2) / 3);
  const points = 50 * watch + 20 * chat + 15 * polls + 15 * questions;
  return Math.round((100 * points) / (scope.polls > 0 ? 100 : 85));
}
