// The console's events: the list (drafts too), a new event with its branding previewed live, and
// an event's page — its fields, publishing, its sessions (each with a stream), and its analytics.
import type { Branding } from '../types.js';
import { useEffect, useState } from 'preact/hooks';
import { action } from '../actions.js';
import { api, ApiError } from '../api.js';
import { navigate } from '../router.js';
import { EventAnalytics } from './analytics.js';
import { BrandingFields, brandingBody, draftOf } from './branding.js';
import { EventSessions } from './sessions.js';
import { fromLocal, inHours, TimeFields, toLocal } from './time-fields.js';

interface EventItem {
  id: string;
  title: string;
  description: string;
  startsAt: string;
  endsAt: string;
  timezone: string;
  status: 'draft' | 'published';
  visibility: 'public' | 'private';
  phase: string;
  attendeeCount: number;
  attendeeLimit: number | null;
  branding: Branding;
}

export function ConsoleEvents() {
  const [events, setEvents] = useState<EventItem[]>([]);
  const [title, setTitle] = useState('');
  const [startsAt, setStartsAt] = useState(inHours(24));
  const [endsAt, setEndsAt] = useState(inHours(26));
  const [branding, setBranding] = useState(draftOf(null));
  const [error, setError] = useState<string | null>(null);
  const act = action(setError);
  useEffect(() => {
    api<{ items: EventItem[] }>('GET', '/events?limit=100')
      .then((r) => setEvents(r.items))
      .catch((err) => setError(err instanceof ApiError ? err.words : 'The events could not be loaded.'));
  }, []);
  return (
    <main>
      <h1>Events</h1>
      <form
        class="panel stack"
        aria-label="New event"
        onSubmit={(e) => {
          e.preventDefault();
          void act(async () => {
            const ev = await api<EventItem>('POST', '/events', {
              title,
              startsAt: fromLocal(startsAt),
              endsAt: fromLocal(endsAt),
              timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
              branding: brandingBody(branding),
            });
            navigate(`/console/events/${ev.id}`);
          })();
        }}
      >
        <h2>New event</h2>
        <label>
          Event title
          <input required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        </label>
        <div class="row-form">
          <TimeFields startsAt={startsAt} endsAt={endsAt} setStartsAt={setStartsAt} setEndsAt={setEndsAt} />
        </div>
        <BrandingFields value={branding} onChange={setBranding} title={title} />
        {error && <p role="alert" class="error">{error}</p>}
        <button type="submit">Create event</button>
      </form>
      <ul class="cards" aria-label="Events">
        {events.map((e) => (
          <li key={e.id}>
            <a href={`/console/events/${e.id}`}>{e.title}</a> <span class="muted">· {e.status} · {e.phase} · {e.attendeeCount} attending</span>
          </li>
        ))}
      </ul>
    </main>
  );
}

export function ConsoleEvent({ eventId, admin }: { eventId: string; admin: boolean }) {
  const [event, setEvent] = useState<EventItem | null>(null);
  const [branding, setBranding] = useState(draftOf(null));
  const [error, setError] = useState<string | null>(null);
  const act = action(setError);
  const load = async () => {
    const ev = await api<EventItem>('GET', `/events/${eventId}`);
    setEvent(ev);
    setBranding(draftOf(ev.branding));
  };
  useEffect(() => {
    void act(load)();
  }, [eventId]);
  if (!event) return <main>{error ? <p role="alert" class="error">{error}</p> : <p aria-live="polite">Loading…</p>}</main>;
  return (
    <main>
      <p>
        <a href="/console/events">Events</a>
      </p>
      <h1>{event.title}</h1>
      <p class="muted">
        {event.status} · {new Date(event.startsAt).toLocaleString()} – {new Date(event.endsAt).toLocaleString()} · <a href={`/events/${event.id}`}>attendees’ page</a>
      </p>
      {error && <p role="alert" class="error">{error}</p>}
      {admin && (
        <div class="actions" role="group" aria-label="Event controls">
          {event.status === 'draft' ? (
            <button type="button" onClick={act(async () => (await api('PUT', `/events/${eventId}`, { status: 'published' }), load()))}>
              Publish
            </button>
          ) : (
            <button type="button" onClick={act(async () => (await api('PUT', `/events/${eventId}`, { status: 'draft' }), load()))}>
              Back to draft
            </button>
          )}
        </div>
      )}
      {admin && <EventFields event={event} onSaved={load} setError={setError} />}
      {admin && (
        <section class="panel" aria-label="Branding">
          <h2>Branding</h2>
          <BrandingFields value={branding} onChange={setBranding} title={event.title} />
          <button type="button" onClick={act(async () => (await api('PUT', `/events/${eventId}`, { branding: brandingBody(branding, event.branding) }), load()))}>
            Save branding
          </button>
        </section>
      )}
      <EventSessions eventId={eventId} admin={admin} />
      <EventAnalytics eventId={eventId} />
    </main>
  );
}

/** The event's own fields: title, description, times, visibility, attendee limit. */
function EventFields({ event, onSaved, setError }: { event: EventItem; onSaved: () => Promise<void>; setError: (e: string | null) => void }) {
  const [title, setTitle] = useState(event.title);
  const [description, setDescription] = useState(event.description);
  const [startsAt, setStartsAt] = useState(toLocal(event.startsAt));
  const [endsAt, setEndsAt] = useState(toLocal(event.endsAt));
  const [visibility, setVisibility] = useState(event.visibility);
  const [limit, setLimit] = useState(event.attendeeLimit === null ? '' : String(event.attendeeLimit));
  const act = action(setError, onSaved);
  return (
    <form
      class="panel stack"
      aria-label="Event details"
      onSubmit={(e) => {
        e.preventDefault();
        void act(() =>
          api('PUT', `/events/${event.id}`, { title, description, startsAt: fromLocal(startsAt), endsAt: fromLocal(endsAt), visibility, attendeeLimit: limit === '' ? null : Number(limit) }),
        )();
      }}
    >
      <h2>Details</h2>
      <label>
        Event title
        <input required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
      </label>
      <label>
        Description
        <textarea rows={3} maxLength={5000} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <div class="row-form">
        <TimeFields startsAt={startsAt} endsAt={endsAt} setStartsAt={setStartsAt} setEndsAt={setEndsAt} />
        <label>
          Visibility
          <select value={visibility} onChange={(e) => setVisibility(e.currentTarget.value as EventItem['visibility'])}>
            <option value="public">public</option>
            <option value="private">private (attendees added by an admin)</option>
          </select>
        </label>
        <label>
          Attendee limit
          <input type="number" min={1} value={limit} onInput={(e) => setLimit(e.currentTarget.value)} placeholder="none" />
        </label>
      </div>
      <button type="submit">Save details</button>
    </form>
  );
}
