// The events a signed-in person may see, by phase: live now, upcoming, past.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { ownImage } from '../colors.js';
import type { Branding } from '../types.js';

interface EventItem {
  id: string;
  title: string;
  description?: string | null;
  startsAt: string;
  endsAt: string;
  branding: Branding;
}

const PHASES = [
  ['live', 'Live now'],
  ['upcoming', 'Upcoming'],
  ['past', 'Past'],
] as const;

export function Events() {
  const [lists, setLists] = useState<Record<string, EventItem[]> | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Promise.all(PHASES.map(([phase]) => api<{ items: EventItem[] }>('GET', `/events?phase=${phase}&limit=50`).then((r) => [phase, r.items] as const)))
      .then((all) => setLists(Object.fromEntries(all)))
      .catch((err) => setError(err instanceof ApiError ? err.message : 'The events could not be loaded.'));
  }, []);

  return (
    <main>
      <h1>Events</h1>
      {error && <p role="alert" class="error">{error}</p>}
      {!lists && !error && <p aria-live="polite">Loading…</p>}
      {lists &&
        PHASES.map(([phase, heading]) => (
          <section key={phase} aria-labelledby={`h-${phase}`}>
            <h2 id={`h-${phase}`}>{heading}</h2>
            {(lists[phase] ?? []).length === 0 ? (
              <p class="muted">None.</p>
            ) : (
              <ul class="cards">
                {(lists[phase] ?? []).map((e) => (
                  <li key={e.id} class="event-line">
                    {ownImage(e.branding.logoUrl) && <img class="logo small" src={ownImage(e.branding.logoUrl)!} alt={`${e.title} logo`} />}
                    <a href={`/events/${e.id}`}>{e.title}</a>
                    <span class="muted"> · {formatRange(e.startsAt, e.endsAt)}</span>
                  </li>
                ))}
              </ul>
            )}
          </section>
        ))}
    </main>
  );
}

function formatRange(from: string, to: string): string {
  const f = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  return `${f.format(new Date(from))} – ${f.format(new Date(to))}`;
}
