// The watch page of a session (/watch/<sessionId>, the `watchUrl` of the API): the player while
// the broadcast is on, otherwise a slate ("starting soon" with a countdown, offline, ended) that
// turns into the video by itself when the stream goes live (`stream:status` over /ws), and how
// many people watch.
import type { Branding } from '../types.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { Chat } from '../chat.js';
import { brandVars, ownImage } from '../colors.js';
import { countdown } from './event.js';
import { Player } from '../player.js';
import { Polls } from '../polls.js';
import { Questions } from '../questions.js';
import { connectRealtime, type StreamStatus } from '../realtime.js';
import { readMe } from '../session.js';

interface Session {
  id: string;
  eventId: string;
  title: string;
  description: string;
  startsAt: string;
  endsAt: string;
  speakers: { id: string; name: string }[];
  streamStatus: StreamStatus | null;
  live: boolean;
  playbackUrl: string | null;
  watch: { allowed: boolean; reason: string | null };
}
interface EventInfo {
  id: string;
  title: string;
  joined: boolean;
  branding: Branding;
}

const ON_AIR: (StreamStatus | null)[] = ['live', 'reconnecting'];

export function Watch({ sessionId }: { sessionId: string }) {
  const [session, setSession] = useState<Session | null>(null);
  const [event, setEvent] = useState<EventInfo | null>(null);
  const [status, setStatus] = useState<StreamStatus | null>(null);
  const [endedHere, setEndedHere] = useState(false);
  const [viewers, setViewers] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [removed, setRemoved] = useState<string | null>(null);
  const [replayUrl, setReplayUrl] = useState<string | null>(null);
  const statusRef = useRef<StreamStatus | null>(null);
  const replayRef = useRef<string | null>(null);
  statusRef.current = status;
  replayRef.current = replayUrl;
  // one WebSocket for the page (the player's status, the count, the chat); this component is keyed by the session
  const [rt] = useState(connectRealtime);

  const load = async () => {
    try {
      const s = await api<Session>('GET', `/sessions/${sessionId}`);
      setSession(s);
      setStatus(s.streamStatus);
      // after the broadcast: the newest ready recording of this session, if any
      if (s.watch.allowed && !ON_AIR.includes(s.streamStatus)) {
        const recs = await api<{ items: { status: string; replayUrl: string | null }[] }>('GET', `/sessions/${sessionId}/recordings?limit=5`).catch(() => ({ items: [] }));
        setReplayUrl(recs.items.find((r) => r.status === 'ready' && r.replayUrl)?.replayUrl ?? null);
      } else setReplayUrl(null);
      setEvent(await api<EventInfo>('GET', `/events/${s.eventId}`));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'The session could not be loaded.');
    }
  };

  useEffect(() => {
    void load();
    rt.join(sessionId);
    const offs = [
      rt.on('stream:status', (f) => {
        if (f.sessionId !== sessionId) return;
        setStatus((before) => {
          if (ON_AIR.includes(before) && !ON_AIR.includes(f.status)) setEndedHere(true);
          if (ON_AIR.includes(f.status)) setEndedHere(false);
          return f.status;
        });
        // the playback URL (and whether this person may watch) comes with the session
        if (f.status === 'live') void load();

      }),
      rt.on('viewers:count', (f) => f.sessionId === sessionId && setViewers(f.count)),
      rt.on('room:closed', (f) => setRemoved(f.reason)),
      // after a reconnect: read the state again (a frame missed while away)
      rt.onState((connected) => connected && void load()),
    ];
    // a recording is finalised a little after the broadcast ends: look for the replay now and then
    const look = setInterval(() => {
      if (!ON_AIR.includes(statusRef.current) && !replayRef.current) void load();
    }, 10_000);
    return () => {
      clearInterval(look);
      offs.forEach((off) => off());
      rt.close();
    };
  }, [sessionId]);

  if (error) return <main><h1>Watch</h1><p role="alert" class="error">{error}</p></main>;
  if (!session) return <main><p aria-live="polite">Loading…</p></main>;

  async function join() {
    try {
      await api('POST', `/events/${session!.eventId}/join`);
      await load();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Joining failed.');
    }
  }

  const onAir = ON_AIR.includes(status) && session.playbackUrl && !removed;
  // the tools each role has here: staff moderate everything; the session's speakers host its polls and questions
  const me = readMe();
  const staff = me?.role === 'admin' || me?.role === 'moderator';
  const host = staff || session.speakers.some((s) => s.id === me?.id);
  return (
    <main class="watch branded" style={event ? brandVars(event.branding) : {}}>
      <div class="watch-main">
      {event && ownImage(event.branding.bannerUrl) && <img class="banner slim" src={ownImage(event.branding.bannerUrl)!} alt="" />}
      <p class="muted event-line">
        {event && ownImage(event.branding.logoUrl) && <img class="logo small" src={ownImage(event.branding.logoUrl)!} alt={`${event.title} logo`} />}
        {event && <a href={`/events/${event.id}`}>{event.title}</a>}
      </p>
      <h1>{session.title}</h1>
      <div class="watch-meta">
        {ON_AIR.includes(status) && <span class="badge live">{status === 'reconnecting' ? 'Reconnecting' : 'Live'}</span>}
        <span aria-live="polite" role="status" aria-label="Viewers">
          {viewers !== null ? `${viewers} watching` : ''}
        </span>
      </div>
      {removed ? (
        <p role="alert" class="error">{removed}</p>
      ) : !session.watch.allowed ? (
        <div class="slate" role="region" aria-label="Not available">
          <p>{session.watch.reason ?? 'You may not watch this session.'}</p>
          {event && !event.joined && <button type="button" onClick={join}>Join the event</button>}
        </div>
      ) : onAir ? (
        <Player src={session.playbackUrl!} title={session.title} sessionId={session.id} />
      ) : replayUrl ? (
        <>
          <p class="muted">The broadcast has ended. Watch the replay:</p>
          <Player src={replayUrl} title={`${session.title} (replay)`} sessionId={session.id} replay />
        </>
      ) : (
        <Slate session={session} status={status} endedHere={endedHere} />
      )}
      {session.description && <p>{session.description}</p>}
      {session.speakers.length > 0 && <p class="muted">With {session.speakers.map((s) => s.name).join(', ')}</p>}
      </div>
      {session.watch.allowed && !removed && (
        <aside class="watch-side">
          <Polls sessionId={sessionId} rt={rt} host={host} />
          <Chat sessionId={sessionId} eventId={session.eventId} rt={rt} staff={staff} />
          <Questions sessionId={sessionId} rt={rt} host={host} />
        </aside>
      )}
    </main>
  );
}

function Slate({ session, status, endedHere }: { session: Session; status: StreamStatus | null; endedHere: boolean }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const starts = Date.parse(session.startsAt);
  const ends = Date.parse(session.endsAt);
  let text: string;
  if (endedHere || now > ends) text = 'The broadcast has ended.';
  else if (status === 'starting') text = 'Starting… the video appears here in a few seconds.';
  else if (status === 'failed') text = 'The broadcast stopped because of a problem. It continues here when it is back.';
  else if (now < starts) text = `Starting soon: in ${countdown(starts - now)}. The video appears here by itself.`;
  else text = 'The stream is offline right now. The video appears here by itself when it starts.';
  return (
    <div class="slate" role="region" aria-label="Stream status">
      <p aria-live="polite">{text}</p>
    </div>
  );
}
