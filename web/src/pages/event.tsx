// An event's page: its branding (colours with readable text, logo and banner), what it is, joining
// it, and its schedule — each session with its time, a countdown while it is ahead, a live badge,
// and the way to its watch page.
import type { Branding } from '../types.js';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { brandVars, ownImage } from '../colors.js';

interface EventDetail {
  id: string;
  title: string;
  description: string;
  startsAt: string;
  endsAt: string;
  timezone: string;
  phase: 'upcoming' | 'live' | 'past';
  joined: boolean;
  attendeeCount: number;
  attendeeLimit: number | null;
  branding: Branding;
}
interface SessionItem {
  id: string;
  title: string;
  startsAt: string;
  endsAt: string;
  live: boolean;
  speakers: { id: string; name: string }[];
}

export function EventPage({ eventId }: { eventId: string }) {
  const [event, setEvent] = useState<EventDetail | null>(null);
  const [sessions, setSessions] = useState<SessionItem[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());

  const load = async () => {
    try {
      setEvent(await api<EventDetail>('GET', `/events/${eventId}`));
      setSessions((await api<{ items: SessionItem[] }>('GET', `/events/${eventId}/sessions?limit=100`)).items);
    } catch (err) {
      setError(err instanceof ApiError ? err.words : 'The event could not be loaded.');
    }
  };
  useEffect(() => {
    void load();
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [eventId]);

  async function join() {
    setError(null);
    try {
      await api('POST', `/events/${eventId}/join`);
      await load();
    } catch (err) {
      setError(err instanceof ApiError ? err.words : 'Joining failed. Try again.');
    }
  }

  if (!event) return <main>{error ? <p role="alert" class="error">{error}</p> : <p aria-live="polite">Loading…</p>}</main>;
  const logo = ownImage(event.branding.logoUrl);
  const banner = ownImage(event.branding.bannerUrl);
  const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short', timeZone: event.timezone });
  const time = new Intl.DateTimeFormat(undefined, { timeStyle: 'short', timeZone: event.timezone });
  return (
    <main class="branded" style={brandVars(event.branding)}>
      {banner && <img class="banner" src={banner} alt="" />}
      <header class="event-head">
        {logo && <img class="logo" src={logo} alt={`${event.title} logo`} />}
        <div>
          <h1>{event.title}</h1>
          <p class="muted">
            {when.format(new Date(event.startsAt))} ({event.timezone})
          </p>
        </div>
      </header>
      {event.description && <p>{event.description}</p>}
      {error && <p role="alert" class="error">{error}</p>}
      {event.joined ? (
        <p role="status">You are attending.</p>
      ) : (
        event.phase !== 'past' && (
          <button type="button" class="brand-button" onClick={join}>
            Join the event
          </button>
        )
      )}
      <section aria-labelledby="schedule">
        <h2 id="schedule">Schedule</h2>
        <ol class="cards">
          {sessions.map((s) => {
            const starts = Date.parse(s.startsAt);
            const ended = Date.parse(s.endsAt) < now;
            return (
              <li key={s.id}>
                <a href={`/watch/${s.id}`}>{s.title}</a> {s.live && <span class="badge live">Live</span>}
                <br />
                <span class="muted">
                  {time.format(new Date(s.startsAt))} – {time.format(new Date(s.endsAt))}
                  {starts > now ? ` · starts in ${countdown(starts - now)}` : ended ? ' · ended' : ''}
                  {s.speakers.length > 0 ? ` · ${s.speakers.map((x) => x.name).join(', ')}` : ''}
                </span>
              </li>
            );
          })}
        </ol>
        {sessions.length === 0 && <p class="muted">No sessions yet.</p>}
      </section>
    </main>
  );
}

export function countdown(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min ${String(sec).padStart(2, '0')} s`;
}
