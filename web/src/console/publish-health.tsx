// Per-publish stream health of one session (GET /api/analytics/sessions/:id, `streamSessions`): each
// publish of its stream around its time slot with what the source sent, how the transcoder kept up,
// the drops it came back from and what viewers fetched per rendition.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';

interface StreamSessionStats {
  id: string;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number;
  endReason: string | null;
  source: { videoCodec: string | null; audioCodec: string | null; width: number | null; height: number | null; fps: number | null; videoBitrateKbps: number | null; audioBitrateKbps: number | null };
  transcoder: { speedMin: number | null; speedAvg: number | null; fpsMin: number | null; restarts: number };
  renditionsServed: { rendition: string; segments: number; bytes: number }[];
  reconnect: boolean;
  reconnects: number;
}

const duration = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`);
const fixed = (n: number | null, digits = 2) => (n === null ? '—' : n.toFixed(digits));
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

function sourceText(s: StreamSessionStats['source']): string {
  if (!s.width) return 'unknown';
  const audio = s.audioCodec ? ` · ${s.audioCodec}${s.audioBitrateKbps ? ` ${s.audioBitrateKbps} kb/s` : ''}` : ' · no audio';
  return `${s.width}×${s.height} · ${s.fps ?? '?'} fps · ${s.videoBitrateKbps ?? '?'} kb/s ${s.videoCodec ?? ''}${audio}`;
}

/** `asOf` changes when the event's figures are read again: the table follows. */
export function PublishHealth({ sessionId, title, asOf }: { sessionId: string; title: string; asOf: string }) {
  const [rows, setRows] = useState<StreamSessionStats[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api<{ streamSessions: StreamSessionStats[] }>('GET', `/analytics/sessions/${sessionId}?top=0`)
      .then((r) => setRows(r.streamSessions))
      .catch((err) => setError(err instanceof ApiError ? err.words : 'The stream health could not be loaded.'));
  }, [sessionId, asOf]);
  if (error) return <p role="alert" class="error">{error}</p>;
  if (!rows) return null;
  if (rows.length === 0) return <p class="muted">{title}: nothing was published.</p>;
  return (
    <table aria-label={`Publishes of ${title}`}>
      <caption>{title}</caption>
      <thead>
        <tr>
          <th scope="col">Started</th>
          <th scope="col">Ended</th>
          <th scope="col">Duration</th>
          <th scope="col">Source</th>
          <th scope="col">Transcoder speed (min / avg)</th>
          <th scope="col">Lowest fps</th>
          <th scope="col">Restarts</th>
          <th scope="col">Reconnects</th>
          <th scope="col">Renditions served</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((p) => (
          <tr key={p.id}>
            <td>{new Date(p.startedAt).toLocaleString()}</td>
            <td>{p.endedAt ? `${new Date(p.endedAt).toLocaleTimeString()}${p.endReason ? ` (${p.endReason})` : ''}` : 'live'}</td>
            <td>{duration(p.durationSeconds)}</td>
            <td>{sourceText(p.source)}</td>
            <td>
              {fixed(p.transcoder.speedMin)}× / {fixed(p.transcoder.speedAvg)}×
            </td>
            <td>{fixed(p.transcoder.fpsMin, 1)}</td>
            <td>{p.transcoder.restarts}</td>
            <td>
              {p.reconnects}
              {p.reconnect ? ' · came back after a drop' : ''}
            </td>
            <td>{p.renditionsServed.map((r) => `${r.rendition}: ${r.segments} segments, ${mb(r.bytes)}`).join('; ') || 'none'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
