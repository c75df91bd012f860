// An event's sessions in the console: the schedule with each session's stream state, removing a
// session, and adding one (admins).
import { useEffect, useState } from 'preact/hooks';
import { action } from '../actions.js';
import { api } from '../api.js';
import type { Stream } from './streams.js';
import { fromLocal, inHours, TimeFields } from './time-fields.js';

export interface SessionItem {
  id: string;
  title: string;
  startsAt: string;
  endsAt: string;
  streamId: string | null;
  streamStatus: string | null;
}

export function EventSessions({ eventId, admin }: { eventId: string; admin: boolean }) {
  const [sessions, setSessions] = useState<SessionItem[]>([]);
  const [streams, setStreams] = useState<Stream[]>([]);
  const [sTitle, setSTitle] = useState('');
  const [sStart, setSStart] = useState(inHours(1));
  const [sEnd, setSEnd] = useState(inHours(2));
  const [sStream, setSStream] = useState('');
  const [error, setError] = useState<string | null>(null);
  const act = action(setError);
  const load = async () => {
    setSessions((await api<{ items: SessionItem[] }>('GET', `/events/${eventId}/sessions?limit=100`)).items);
    if (admin) setStreams((await api<{ items: Stream[] }>('GET', '/streams?limit=100')).items);
  };
  useEffect(() => {
    void act(load)();
  }, [eventId]);
  return (
    <section class="panel" aria-label="Sessions">
      <h2>Sessions</h2>
      {error && <p role="alert" class="error">{error}</p>}
      <ul class="cards">
        {sessions.map((s) => (
          <li key={s.id}>
            <a href={`/watch/${s.id}`}>{s.title}</a> <span class="muted">· {new Date(s.startsAt).toLocaleString()} – {new Date(s.endsAt).toLocaleTimeString()} · {s.streamStatus ?? 'no stream'}</span>
            {admin && (
              <>
                {' '}
                <button
                  type="button"
                  class="link"
                  aria-label={`Remove session ${s.title}`}
                  onClick={act(async () => {
                    if (confirm(`Remove the session “${s.title}”?`)) await api('DELETE', `/sessions/${s.id}`);
                    await load();
                  })}
                >
                  Remove
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      {admin && (
        <form
          class="row-form"
          aria-label="New session"
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              await api('POST', `/events/${eventId}/sessions`, { title: sTitle, startsAt: fromLocal(sStart), endsAt: fromLocal(sEnd), ...(sStream ? { streamId: sStream } : {}) });
              setSTitle('');
              await load();
            })();
          }}
        >
          <label>
            Session title
            <input required maxLength={200} value={sTitle} onInput={(e) => setSTitle(e.currentTarget.value)} />
          </label>
          <TimeFields prefix="Session" startsAt={sStart} endsAt={sEnd} setStartsAt={setSStart} setEndsAt={setSEnd} />
          <label>
            Stream
            <select value={sStream} onChange={(e) => setSStream(e.currentTarget.value)}>
              <option value="">none</option>
              {streams.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.title}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">Add session</button>
        </form>
      )}
    </section>
  );
}
