// A stream's relay destinations (multistreaming): add one (its key is write-only), enable or
// disable it, remove it, and see each one's state — connecting, live with its bit rate,
// retrying with the reason in words — refreshed every few seconds.
import { useState } from 'preact/hooks';
import { action, usePolling } from '../actions.js';
import { api, ApiError } from '../api.js';

interface Destination {
  id: string;
  name: string;
  url: string;
  enabled: boolean;
  status: 'idle' | 'connecting' | 'live' | 'retrying' | 'failed';
  bitrateKbps: number | null;
  retries: number;
  lastError: string | null;
  keyHint: string;
}

/** `base`: the stream's path (`/streams/:id`, where admins manage them) or a session's (`/sessions/:id/stream`, read-only for its speakers). */
export function Destinations({ base, canEdit }: { base: string; canEdit: boolean }) {
  const [items, setItems] = useState<Destination[]>([]);
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);

  const load = () =>
    api<{ items: Destination[] }>('GET', `${base}/destinations?limit=100`)
      .then((r) => setItems(r.items))
      .catch((err) => setError(err instanceof ApiError ? err.words : 'The destinations could not be loaded.'));
  usePolling(load, 3_000, [base]);
  const act = action(setError, load);

  return (
    <section class="panel" aria-label="Relay destinations">
      <h2>Relay destinations</h2>
      <p class="muted">The stream as received, sent on to YouTube, Twitch or any RTMP(S) server while it is live.</p>
      {error && <p role="alert" class="error">{error}</p>}
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Server</th>
            <th scope="col">State</th>
            <th scope="col">Enabled</th>
            {canEdit && <th scope="col">Remove</th>}
          </tr>
        </thead>
        <tbody>
          {items.map((d) => (
            <tr key={d.id} aria-label={d.name}>
              <td>{d.name}</td>
              <td>
                <code>{d.url}</code> <span class="muted">key …{d.keyHint}</span>
              </td>
              <td data-testid="relay-state">
                {d.status}
                {d.status === 'live' && d.bitrateKbps ? ` · ${d.bitrateKbps} kb/s` : ''}
                {d.retries > 0 ? ` · ${d.retries} retries` : ''}
                {d.lastError && <div class="error">{d.lastError}</div>}
              </td>
              <td>
                <input
                  type="checkbox"
                  aria-label={`Enabled: ${d.name}`}
                  checked={d.enabled}
                  disabled={!canEdit}
                  onChange={(e) => void act(() => api('PATCH', `${base}/destinations/${d.id}`, { enabled: e.currentTarget.checked }))()}
                />
              </td>
              {canEdit && (
                <td>
                  <button type="button" class="link" aria-label={`Remove ${d.name}`} onClick={act(() => api('DELETE', `${base}/destinations/${d.id}`))}>
                    Remove
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {items.length === 0 && <p class="muted">None yet.</p>}
      {canEdit && (
        <form
          class="row-form"
          aria-label="New destination"
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              await api('POST', `${base}/destinations`, { name, url, streamKey: key });
              setName('');
              setUrl('');
              setKey('');
            })();
          }}
        >
          <label>
            Name
            <input required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="YouTube" />
          </label>
          <label class="grow">
            Server URL
            <input required value={url} onInput={(e) => setUrl(e.currentTarget.value)} placeholder="rtmps://a.rtmps.youtube.com:443/live2" />
          </label>
          <label>
            Destination stream key
            <input required type="password" autocomplete="off" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
          </label>
          <button type="submit">Add destination</button>
        </form>
      )}
    </section>
  );
}
