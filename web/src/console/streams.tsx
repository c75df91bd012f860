// The console's streams: create one (the key shown once, a copy button, the OBS settings to paste),
// and the list with each stream's state and picture.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { sameOrigin } from '../urls.js';

export interface Stream {
  id: string;
  title: string;
  status: 'offline' | 'starting' | 'live' | 'reconnecting' | 'failed';
  statusReason: string | null;
  enabled: boolean;
  rtmpUrl: string;
  profile: string;
  record: boolean;
  lowLatency: boolean;
  thumbnailUrl: string | null;
  playbackUrl: string;
  stoppedUntil: string | null;
  renditions: { name: string; width: number; height: number; passthrough: boolean }[];
  progress: { fps: number | null; speed: number | null; bitrateKbps: number | null; updatedAt: string } | null;
  sessions: { id: string; title: string }[];
  streamKey?: string;
}

export function StatusBadge({ status }: { status: Stream['status'] }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}

export function Streams() {
  const [streams, setStreams] = useState<Stream[] | null>(null);
  const [title, setTitle] = useState('');
  const [record, setRecord] = useState(true);
  const [lowLatency, setLowLatency] = useState(false);
  const [created, setCreated] = useState<Stream | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = () =>
    api<{ items: Stream[] }>('GET', '/streams?limit=100')
      .then((r) => setStreams(r.items))
      .catch((err) => setError(err instanceof ApiError ? err.words : 'The streams could not be loaded.'));
  useEffect(() => {
    void load();
    const t = setInterval(() => void load(), 5_000);
    return () => clearInterval(t);
  }, []);

  async function create(e: Event) {
    e.preventDefault();
    setError(null);
    try {
      setCreated(await api<Stream>('POST', '/streams', { title, record, lowLatency }));
      setTitle('');
      void load();
    } catch (err) {
      setError(err instanceof ApiError ? err.words : 'The stream was not created.');
    }
  }

  return (
    <main>
      <h1>Streams</h1>
      <form onSubmit={create} class="row-form" aria-label="New stream">
        <label>
          Title
          <input required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        </label>
        <label class="inline">
          <input type="checkbox" checked={record} onChange={(e) => setRecord(e.currentTarget.checked)} /> Record
        </label>
        <label class="inline">
          <input type="checkbox" checked={lowLatency} onChange={(e) => setLowLatency(e.currentTarget.checked)} /> Low latency
        </label>
        <button type="submit">Create stream</button>
      </form>
      {error && <p role="alert" class="error">{error}</p>}
      {created?.streamKey && <KeyOnce stream={created} onClose={() => setCreated(null)} />}
      {streams && (
        <ul class="cards" aria-label="Streams">
          {streams.map((s) => (
            <li key={s.id} class="stream-card">
              {s.thumbnailUrl && <img src={sameOrigin(s.thumbnailUrl)} alt={`Live picture of ${s.title}`} width={160} height={90} />}
              <div>
                <a href={`/console/streams/${s.id}`}>{s.title}</a> <StatusBadge status={s.status} />
                {!s.enabled && <span class="muted"> · disabled</span>}
                <br />
                <span class="muted">{s.sessions.map((x) => x.title).join(', ') || 'not assigned to a session'}</span>
              </div>
            </li>
          ))}
        </ul>
      )}
    </main>
  );
}

/** The stream key, shown once (create, regenerate), with a copy button and what to paste in OBS. */
export function KeyOnce({ stream, onClose }: { stream: Pick<Stream, 'title' | 'rtmpUrl' | 'streamKey' | 'lowLatency'>; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(stream.streamKey!);
      setCopied(true);
    } catch {
      // no clipboard (plain http on another host): the field is selected for Ctrl-C instead
      (document.getElementById('stream-key') as HTMLInputElement | null)?.select();
    }
  };
  return (
    <section class="panel key-once" aria-label="Stream key">
      <h2>Stream key of “{stream.title}”</h2>
      <p>It is shown only now. Put it in your encoder; a new one can be made later (the old one stops working).</p>
      <div class="row-form">
        <label class="grow">
          Stream key
          <input id="stream-key" readOnly value={stream.streamKey} onFocus={(e) => e.currentTarget.select()} />
        </label>
        <button type="button" onClick={copy}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <h3>OBS settings</h3>
      <ul>
        <li>
          Settings › Stream: Service “Custom…”, Server <code>{stream.rtmpUrl}</code>, Stream Key: the key above.
        </li>
        {stream.lowLatency ? (
          <li>
            Settings › Output (Advanced): x264 or NVENC H.264, CBR, 1080p up to 6000 kb/s, profile high, <strong>keyframe interval 1 s</strong>, and no
            B-frames: x264 Tune “zerolatency”, or NVENC Tuning “Low Latency” with B-frames 0.
          </li>
        ) : (
          <li>Settings › Output (Advanced): x264 or NVENC H.264, CBR, 1080p up to 6000 kb/s, keyframe interval 2 s, profile high.</li>
        )}
        <li>Audio: AAC 128–160 kb/s, 48 kHz.</li>
      </ul>
      <button type="button" class="link" onClick={onClose}>
        I have stored the key
      </button>
    </section>
  );
}
