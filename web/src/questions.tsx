// Q&A of a session: ask, upvote (once), see what was answered; sorted by votes or by time.
// Read again after every reconnect.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from './api.js';
import type { Question, Realtime } from './realtime.js';

export function Questions({ sessionId, rt }: { sessionId: string; rt: Realtime }) {
  const [items, setItems] = useState<Question[]>([]);
  const [order, setOrder] = useState<'top' | 'new'>('top');
  const [text, setText] = useState('');
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    const upsert = (q: Partial<Question> & { id: string; sessionId: string }) =>
      setItems((all) => {
        const before = all.find((x) => x.id === q.id);
        if (before) return all.map((x) => (x.id === q.id ? { ...x, ...q, upvotedByMe: q.upvotedByMe ?? x.upvotedByMe } : x));
        return 'text' in q ? [...all, q as Question] : all;
      });
    const load = () =>
      api<{ items: Question[] }>('GET', `/questions/session/${sessionId}?order=new&limit=100`)
        .then((r) => setItems(r.items))
        .catch((err) => setNotice(err instanceof ApiError ? err.message : 'The questions could not be loaded.'));
    const offs = [
      rt.on('question:new', (f) => f.question.sessionId === sessionId && upsert(f.question)),
      rt.on('question:answered', (f) => f.question.sessionId === sessionId && upsert(f.question)),
      rt.on('question:upvote', (f) => f.question.sessionId === sessionId && upsert(f.question)),
      rt.onState((connected) => connected && void load()),
    ];
    void load();
    return () => offs.forEach((off) => off());
  }, [sessionId]);

  async function ask(e: Event) {
    e.preventDefault();
    const body = text.trim();
    if (!body) return;
    setNotice(null);
    try {
      const q = await api<Question>('POST', `/questions/session/${sessionId}`, { text: body });
      setItems((all) => (all.some((x) => x.id === q.id) ? all : [...all, q]));
      setText('');
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : 'Your question was not sent. Try again.');
    }
  }

  async function upvote(q: Question) {
    setNotice(null);
    try {
      const answer = await api<Question>('POST', `/questions/${q.id}/upvote`);
      setItems((all) => all.map((x) => (x.id === q.id ? { ...x, upvotes: answer.upvotes, upvotedByMe: true } : x)));
    } catch (err) {
      setNotice(err instanceof ApiError ? err.message : 'The upvote was not counted.');
    }
  }

  const sorted = [...items].sort((a, b) => (order === 'top' ? b.upvotes - a.upvotes || a.createdAt.localeCompare(b.createdAt) : b.createdAt.localeCompare(a.createdAt)));
  return (
    <section class="panel" aria-label="Questions">
      <h2>Questions</h2>
      <form onSubmit={ask} class="chat-form">
        <label class="inline grow">
          Question
          <input type="text" maxLength={500} value={text} onInput={(e) => setText(e.currentTarget.value)} autocomplete="off" />
        </label>
        <button type="submit">Ask</button>
      </form>
      {notice && <p role="alert" class="error">{notice}</p>}
      <div role="group" aria-label="Sort questions" class="toggle">
        <button type="button" aria-pressed={order === 'top'} onClick={() => setOrder('top')}>
          Top
        </button>
        <button type="button" aria-pressed={order === 'new'} onClick={() => setOrder('new')}>
          New
        </button>
      </div>
      <ol class="questions" aria-label="Questions asked">
        {sorted.map((q) => (
          <li key={q.id} aria-label={q.text}>
            <p>
              {q.text} {q.answered && <span class="badge answered">Answered</span>}
            </p>
            <p class="muted">
              {q.user?.name ?? 'Someone'} ·{' '}
              <button type="button" class="link" disabled={q.upvotedByMe} onClick={() => upvote(q)} aria-label={`Upvote: ${q.text}`}>
                ▲ {q.upvotes}
              </button>
            </p>
          </li>
        ))}
      </ol>
    </section>
  );
}
