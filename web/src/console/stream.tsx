// One stream in the console: its state and live health (source, transcoder, renditions, the live
// picture, the log told to the broadcaster), its controls (enable, stop, a new key), its relay
// destinations and its recordings. Read again every few seconds while open.
import { useState } from 'preact/hooks';
import { action, usePolling } from '../actions.js';
import { api, ApiError } from '../api.js';
import { Player } from '../player.js';
import { sameOrigin } from '../urls.js';
import { Destinations } from './destinations.js';
import { LiveHealth, type PublishSession } from './live-health.js';
import { KeyOnce, StatusBadge, type Stream } from './streams.js';

interface Recording {
  id: string;
  status: string;
  startedAt: string;
  durationSeconds: number | null;
  sizeBytes: number | null;
  replayUrl: string | null;
  downloadUrl: string | null;
}

export function StreamPage({ streamId, canEdit }: { streamId: string; canEdit: boolean }) {
  const [stream, setStream] = useState<Stream | null>(null);
  const [publishes, setPublishes] = useState<PublishSession[]>([]);
  const [recordings, setRecordings] = useState<Recording[]>([]);
  const [keyShown, setKeyShown] = useState<Stream | null>(null);
  /** The recording being played on the page (its id). */
  const [playing, setPlaying] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = async () => {
    try {
      setStream(await api<Stream>('GET', `/streams/${streamId}`));
      setPublishes((await api<{ items: PublishSession[] }>('GET', `/streams/${streamId}/sessions?limit=5`)).items);
      if (canEdit) setRecordings((await api<{ items: Recording[] }>('GET', `/streams/${streamId}/recordings?limit=20`)).items);
    } catch (err) {
      setError(err instanceof ApiError ? err.words : 'The stream could not be loaded.');
    }
  };
  usePolling(load, 3_000, [streamId]);
  const act = action(setError, load);

  if (!stream) return <main>{error ? <p role="alert" class="error">{error}</p> : <p aria-live="polite">Loading…</p>}</main>;
  const current = publishes.find((p) => !p.endedAt) ?? publishes[0];
  return (
    <main>
      <p>
        <a href="/console/streams">Streams</a>
      </p>
      <h1>
        {stream.title} <StatusBadge status={stream.status} />
      </h1>
      {stream.statusReason && <p class="muted">{stream.statusReason}</p>}
      {error && <p role="alert" class="error">{error}</p>}
      {keyShown && <KeyOnce stream={keyShown} onClose={() => setKeyShown(null)} />}
      {canEdit && (
        <div class="actions" role="group" aria-label="Stream controls">
          <button type="button" onClick={act(() => api('PATCH', `/streams/${streamId}`, { enabled: !stream.enabled }))}>
            {stream.enabled ? 'Disable' : 'Enable'}
          </button>
          <button type="button" disabled={stream.status === 'offline'} onClick={act(() => api('POST', `/streams/${streamId}/stop`))}>
            Stop
          </button>
          <button
            type="button"
            onClick={act(async () => {
              if (!confirm('Make a new stream key? The encoder using the old one is disconnected.')) return;
              setKeyShown(await api<Stream>('POST', `/streams/${streamId}/regenerate-key`));
            })}
          >
            New stream key
          </button>
        </div>
      )}
      <section class="panel" aria-label="Live health">
        <h2>Live health</h2>
        <LiveHealth thumbnailUrl={stream.thumbnailUrl} renditions={stream.renditions} publish={current} progress={stream.progress} />
      </section>
      <Destinations base={`/streams/${streamId}`} canEdit={canEdit} />
      {canEdit && (
        <section class="panel" aria-label="Recordings">
          <h2>Recordings</h2>
          {recordings.length === 0 && <p class="muted">None.</p>}
          <ul class="cards">
            {recordings.map((r) => (
              <li key={r.id}>
                {new Date(r.startedAt).toLocaleString()} · {r.status}
                {r.durationSeconds ? ` · ${Math.round(r.durationSeconds / 60)} min` : ''}
                {r.sizeBytes ? ` · ${(r.sizeBytes / 1e6).toFixed(1)} MB` : ''}{' '}
                {r.replayUrl && (
                  <button type="button" class="link" aria-pressed={playing === r.id} onClick={() => setPlaying(playing === r.id ? null : r.id)}>
                    {playing === r.id ? 'Close player' : 'Play'}
                  </button>
                )}{' '}
                {r.downloadUrl && <a href={sameOrigin(r.downloadUrl)}>Download</a>}{' '}
                <button type="button" class="link" disabled={r.status === 'recording' || r.status === 'finalising'} onClick={act(async () => {
                  if (confirm('Delete this recording and its files?')) await api('DELETE', `/recordings/${r.id}`);
                })}>
                  Delete
                </button>
                {playing === r.id && r.replayUrl && (
                  // the staff preview's token: a recording played here is never counted as a viewer
                  <Player src={r.replayUrl} title={`Recording of ${new Date(r.startedAt).toLocaleString()}`} sessionId="" replay />
                )}
              </li>
            ))}
          </ul>
        </section>
      )}
    </main>
  );
}
