// An event's sessions in the console: the schedule with each session's speakers and stream state;
// admins add a session, edit one (title, description, times, speakers, stream) or remove it.
import { useEffect, useState } from 'preact/hooks';
import { action } from '../actions.js';
import { api } from '../api.js';
import { SessionForm, type SessionDraft, type Speaker } from './session-form.js';
import type { Stream } from './streams.js';
import { inHours, toLocal } from './time-fields.js';

export interface SessionItem {
  id: string;
  title: string;
  description: string;
  startsAt: string;
  endsAt: string;
  speakers: Speaker[];
  streamId: string | null;
  streamStatus: string | null;
}

const draftOf = (s: SessionItem): SessionDraft => ({
  title: s.title,
  description: s.description,
  startsAt: toLocal(s.startsAt),
  endsAt: toLocal(s.endsAt),
  speakers: s.speakers,
  streamId: s.streamId ?? '',
});

export function EventSessions({ eventId, admin }: { eventId: string; admin: boolean }) {
  const [sessions, setSessions] = useState<SessionItem[]>([]);
  const [streams, setStreams] = useState<Stream[]>([]);
  const [editing, setEditing] = useState<string | null>(null);
  // a new key gives the next session an empty form
  const [added, setAdded] = useState(0);
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
            <a href={`/watch/${s.id}`}>{s.title}</a>{' '}
            <span class="muted">
              · {new Date(s.startsAt).toLocaleString()} – {new Date(s.endsAt).toLocaleTimeString()} · {s.streamStatus ?? 'no stream'}
              {s.speakers.length > 0 && ` · with ${s.speakers.map((x) => x.name).join(', ')}`}
            </span>
            {admin && (
              <>
                {' '}
                <button type="button" class="link" aria-expanded={editing === s.id} aria-label={`Edit session ${s.title}`} onClick={() => setEditing(editing === s.id ? null : s.id)}>
                  Edit
                </button>{' '}
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
            {admin && editing === s.id && (
              <SessionForm
                name={`Edit session ${s.title}`}
                formId={`session-${s.id}`}
                initial={draftOf(s)}
                streams={streams}
                submitLabel="Save session"
                save={(body) => api('PUT', `/sessions/${s.id}`, body)}
                onSaved={async () => {
                  setEditing(null);
                  await act(load)();
                }}
                onCancel={() => setEditing(null)}
              />
            )}
          </li>
        ))}
      </ul>
      {admin && (
        <SessionForm
          key={added}
          name="New session"
          heading="New session"
          formId="new-session"
          initial={{ title: '', description: '', startsAt: inHours(1), endsAt: inHours(2), speakers: [], streamId: '' }}
          streams={streams}
          submitLabel="Add session"
          save={(body) => api('POST', `/events/${eventId}/sessions`, body)}
          onSaved={async () => {
            setAdded((n) => n + 1);
            await act(load)();
          }}
        />
      )}
    </section>
  );
}
