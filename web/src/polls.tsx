// Live polls of a session: one button per option (named by its text), results as bars that move
// as votes arrive, with the numbers in words ("3 votes · 60 %"); a closed poll shows its result.
// Read again after every reconnect, so a dropped connection loses no poll and no count.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from './api.js';
import type { Poll, Realtime } from './realtime.js';

export function Polls({ sessionId, rt }: { sessionId: string; rt: Realtime }) {
  const [polls, setPolls] = useState<Poll[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    // frames carry counts, not this person's vote: keep myVote from what we know
    const merge = (p: Poll) =>
      setPolls((all) => {
        const before = all.find((x) => x.id === p.id);
        const next = { ...p, myVote: p.myVote !== undefined ? p.myVote : (before?.myVote ?? null) };
        return before ? all.map((x) => (x.id === p.id ? next : x)) : [next, ...all];
      });
    const load = () =>
      api<{ items: Poll[] }>('GET', `/polls/session/${sessionId}?limit=20`)
        .then((r) => setPolls(r.items.sort((a, b) => b.createdAt.localeCompare(a.createdAt))))
        .catch((err) => setError(err instanceof ApiError ? err.message : 'The polls could not be loaded.'));
    const offs = (['poll:new', 'poll:vote', 'poll:closed'] as const).map((type) => rt.on(type, (f) => f.poll.sessionId === sessionId && merge(f.poll)));
    offs.push(rt.onState((connected) => connected && void load()));
    void load();
    return () => offs.forEach((off) => off());
  }, [sessionId]);

  async function vote(poll: Poll, optionId: string) {
    setError(null);
    try {
      const answer = await api<Poll>('POST', `/polls/${poll.id}/vote`, { optionId });
      setPolls((all) => all.map((x) => (x.id === poll.id ? { ...answer, myVote: optionId } : x)));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Your vote was not counted. Try again.');
    }
  }

  if (polls.length === 0 && !error) return null;
  return (
    <section class="panel" aria-label="Polls">
      <h2>Polls</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {polls.map((poll) => (
        <article key={poll.id} class="poll" aria-label={poll.question}>
          <h3>
            {poll.question} {poll.closed && <span class="muted">(closed)</span>}
          </h3>
          <ul class="options">
            {poll.options.map((o) => {
              const pct = poll.totalVotes > 0 ? Math.round((o.votes / poll.totalVotes) * 100) : 0;
              const words = `${o.votes} ${o.votes === 1 ? 'vote' : 'votes'} · ${pct} %`;
              return (
                <li key={o.id}>
                  {poll.closed ? (
                    <span>{o.text}</span>
                  ) : (
                    <button type="button" class={poll.myVote === o.id ? 'option chosen' : 'option'} aria-pressed={poll.myVote === o.id} onClick={() => vote(poll, o.id)}>
                      {o.text}
                    </button>
                  )}
                  <div class="meter" aria-hidden="true">
                    <div style={{ width: `${pct}%` }} />
                  </div>
                  <span class="muted" aria-label={`${o.text}: ${words}`}>
                    {words}
                  </span>
                </li>
              );
            })}
          </ul>
          <p class="muted" aria-live="polite">
            {poll.totalVotes} {poll.totalVotes === 1 ? 'vote' : 'votes'} in all{poll.closed ? ' · closed' : ''}
          </p>
        </article>
      ))}
    </section>
  );
}
