// A speaker's console page, "My sessions": the sessions they speak at (GET /api/me/sessions), each
// with its watch page (where its speakers host chat, polls and questions), its stream's live health,
// a new stream key (shown once, with the OBS settings) and its relay destinations' status. Speakers
// never see stream ids or other sessions' streams: everything goes through the session's own paths.
import { useState } from 'preact/hooks';
import { action, usePolling } from '../actions.js';
import { api, ApiError } from '../api.js';
import { Destinations } from './destinations.js';
import { LiveHealth, type PublishSession } from './live-health.js';
import { KeyOnce, StatusBadge, type Stream } from './streams.js';

interface MySession {
  id: string;
  title: string;
  eventTitle: string;
  startsAt: string;
  endsAt: string;
  streamStatus: Stream['status'] | null;
  watchUrl: string;
}
/** GET /api/sessions/:id/stream */
interface SessionStream {
  title: string;
  status: Stream['status'];
  statusReason: string | null;
  renditions: Stream['renditions'];
  thumbnailUrl: string | null;
  rtmpUrl: string;
  lowLatency: boolean;
  lastPublish: PublishSession | null;
  streamKey?: string;
}

export function MySessions({ name }: { name: string }) {
  const [items, setItems] = useState<MySession[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  usePolling(
    () =>
      api<{ items: MySession[] }>('GET', '/me/sessions?limit=100')
        .then((r) => setItems(r.items))
        .catch((err) => setError(err instanceof ApiError ? err.words : 'Your sessions could not be loaded.')),
    30_000,
    [],
  );
  return (
    <main>
      <h1>My sessions</h1>
      <p class="muted">Signed in as {name}. Chat moderation, polls and questions are on each session’s watch page.</p>
      {error && <p role="alert" class="error">{error}</p>}
      {items && items.length === 0 && <p>You are not a speaker of any session yet.</p>}
      {items?.map((s) => <MySessionPanel key={s.id} session={s} />)}
    </main>
  );
}

function MySessionPanel({ session: s }: { session: MySession }) {
  return (
    <section class="panel" aria-label={s.title}>
      <h2>{s.title}</h2>
      <p class="muted">
        {s.eventTitle} · {new Date(s.startsAt).toLocaleString()} – {new Date(s.endsAt).toLocaleTimeString()} ·{' '}
        <a href={new URL(s.watchUrl, location.href).pathname}>Watch page (chat, polls, questions)</a>
      </p>
      {s.streamStatus === null ? <p class="muted">No stream is assigned to this session yet.</p> : <Broadcast session={s} />}
    </section>
  );
}

/** The session's stream as its speaker sees it, read again every few seconds. */
function Broadcast({ session: s }: { session: MySession }) {
  const [stream, setStream] = useState<SessionStream | null>(null);
  const [keyShown, setKeyShown] = useState<SessionStream | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    api<SessionStream>('GET', `/sessions/${s.id}/stream`)
      .then(setStream)
      .catch((err) => setError(err instanceof ApiError ? err.words : 'The stream could not be loaded.'));
  usePolling(load, 3_000, [s.id]);
  const act = action(setError, load);
  if (!stream) return error ? <p role="alert" class="error">{error}</p> : <p aria-live="polite">Loading…</p>;
  return (
    <>
      <h3>
        Stream <StatusBadge status={stream.status} />
      </h3>
      {stream.statusReason && <p class="muted">{stream.statusReason}</p>}
      {error && <p role="alert" class="error">{error}</p>}
      <p>
        Encoder server: <code>{stream.rtmpUrl}</code> (the key is shown only when a new one is made)
      </p>
      {keyShown && <KeyOnce stream={keyShown} onClose={() => setKeyShown(null)} />}
      <div class="actions" role="group" aria-label={`Stream controls of ${s.title}`}>
        <button
          type="button"
          onClick={act(async () => {
            if (!confirm('Make a new stream key? The encoder using the old one is disconnected.')) return;
            setKeyShown(await api<SessionStream>('POST', `/sessions/${s.id}/stream/regenerate-key`));
          })}
        >
          New stream key
        </button>
      </div>
      <section aria-label={`Live health of ${s.title}`}>
        <LiveHealth thumbnailUrl={stream.thumbnailUrl} renditions={stream.renditions} publish={stream.lastPublish ?? undefined} name={s.title} />
      </section>
      <Destinations base={`/sessions/${s.id}/stream`} canEdit={false} />
    </>
  );
}
