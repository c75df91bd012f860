// An event's analytics in the console: the headline figures, viewers over time (uPlot), each
// session's figures and per-publish stream health, the engagement table, and the activity report as CSV.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, ApiError } from '../api.js';
import { readToken } from '../session.js';
import { PublishHealth } from './publish-health.js';

interface Figures {
  currentViewers: number;
  peakViewers: number;
  uniqueViewers: number;
  watchTimeSeconds: number;
  averageWatchSeconds: number;
  series: { minute: string; viewers: number; peakViewers: number }[];
  chat: { messages: number };
  polls: { votes: number };
  questions: { questions: number };
  engagement: { formula: string; attendees: { userId: string; name: string; watchSeconds: number; messages: number; votes: number; questions: number; score: number }[] };
  sessions: { sessionId: string; title: string; peakViewers: number; uniqueViewers: number; watchTimeSeconds: number }[];
  asOf: string;
}

const minutes = (s: number) => `${Math.round(s / 60)} min`;

export function EventAnalytics({ eventId }: { eventId: string }) {
  const [f, setF] = useState<Figures | null>(null);
  const [error, setError] = useState<string | null>(null);
  const chart = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const load = () =>
      api<Figures>('GET', `/analytics/events/${eventId}?top=50`)
        .then(setF)
        .catch((err) => setError(err instanceof ApiError ? err.words : 'The analytics could not be loaded.'));
    void load();
    const t = setInterval(() => void load(), 30_000);
    return () => clearInterval(t);
  }, [eventId]);

  useEffect(() => {
    const el = chart.current;
    if (!el || !f || f.series.length === 0) return;
    const xs = f.series.map((p) => Date.parse(p.minute) / 1000);
    const plot = new uPlot(
      {
        width: Math.min(720, el.clientWidth || 720),
        height: 220,
        series: [{}, { label: 'Watching', stroke: '#0b57d0', width: 2 }, { label: 'Most at once', stroke: '#b3261e', width: 1 }],
        axes: [{}, { label: 'viewers' }],
      },
      [xs, f.series.map((p) => p.viewers), f.series.map((p) => p.peakViewers)],
      el,
    );
    return () => plot.destroy();
  }, [f]);

  async function exportCsv() {
    setError(null);
    // the report needs the bearer token: fetched, then handed to the browser as a file
    const res = await fetch(`/api/analytics/users/report?format=csv&eventId=${encodeURIComponent(eventId)}`, { headers: { authorization: `Bearer ${readToken() ?? ''}` } });
    if (!res.ok) return setError(`The report could not be made (${res.status}).`);
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = `activity-${eventId}.csv`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  return (
    <section class="panel" aria-label="Analytics">
      <h2>Analytics</h2>
      {error && <p role="alert" class="error">{error}</p>}
      {f && (
        <>
          <dl class="figures">
            <dt>Watching now</dt>
            <dd>{f.currentViewers}</dd>
            <dt>Peak</dt>
            <dd>{f.peakViewers}</dd>
            <dt>Unique viewers</dt>
            <dd>{f.uniqueViewers}</dd>
            <dt>Watch time</dt>
            <dd>{minutes(f.watchTimeSeconds)}</dd>
            <dt>Chat · votes · questions</dt>
            <dd>
              {f.chat.messages} · {f.polls.votes} · {f.questions.questions}
            </dd>
          </dl>
          <div ref={chart} class="chart" role="img" aria-label={`Viewers over time: ${f.series.length} minutes, peak ${f.peakViewers}`} />
          {f.series.length === 0 && <p class="muted">No viewers yet.</p>}
          <h3>Sessions</h3>
          <table>
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">Peak</th>
                <th scope="col">Unique</th>
                <th scope="col">Watch time</th>
              </tr>
            </thead>
            <tbody>
              {f.sessions.map((s) => (
                <tr key={s.sessionId}>
                  <td>{s.title}</td>
                  <td>{s.peakViewers}</td>
                  <td>{s.uniqueViewers}</td>
                  <td>{minutes(s.watchTimeSeconds)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Stream health per publish</h3>
          {f.sessions.map((s) => (
            <PublishHealth key={s.sessionId} sessionId={s.sessionId} title={s.title} asOf={f.asOf} />
          ))}
          <h3>Engagement</h3>
          <p class="muted">{f.engagement.formula}</p>
          <table aria-label="Engagement">
            <thead>
              <tr>
                <th scope="col">Attendee</th>
                <th scope="col">Score</th>
                <th scope="col">Watched</th>
                <th scope="col">Messages</th>
                <th scope="col">Votes</th>
                <th scope="col">Questions</th>
              </tr>
            </thead>
            <tbody>
              {f.engagement.attendees.map((p) => (
                <tr key={p.userId}>
                  <td>{p.name}</td>
                  <td>{p.score}</td>
                  <td>{minutes(p.watchSeconds)}</td>
                  <td>{p.messages}</td>
                  <td>{p.votes}</td>
                  <td>{p.questions}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="muted">As of {new Date(f.asOf).toLocaleTimeString()} (figures are rolled up every minute; “watching now” is live).</p>
        </>
      )}
      <button type="button" onClick={() => void exportCsv()}>
        Export activity report (CSV)
      </button>
    </section>
  );
}
