// The video player: hls.js (its light build: no subtitles, DRM or alternative audio, which Onair
// never sends), loaded only when there is something to play, or the browser's own HLS (Safari).
// A quality menu (auto and each rung) and the distance to the live edge (the page shows whether it is live).
// Low latency (LL-HLS) is one switch: on when the page says so (`lowLatency`) or as soon as a
// playlist carries parts — what the stream's publish really runs in decides, not a setting.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError } from './api.js';
import { sameOrigin } from './urls.js';

export interface PlayerProps {
  src: string;
  title: string;
  /** The session watched: the player says "still watching" for it (POST /api/analytics/heartbeat). */
  sessionId: string;
  lowLatency?: boolean;
  /** A replay (VOD): marked as such, no heartbeat. */
  replay?: boolean;
}

interface Level {
  index: number;
  height: number;
}

type HlsInstance = import('hls.js').default;

/**
 * hls.js near the live edge of an LL-HLS stream (LL-HLS-NOTES.md §1.2, §6.5): catch up by playing
 * up to 1.5× when behind (hls.js's default is 1: never), and let a stall push the target latency
 * out by a quarter second rather than a whole second (it never comes back by itself).
 */
const LL_TUNING = { maxLiveSyncPlaybackRate: 1.5, liveSyncOnStallIncrease: 0.25 };
/** After this long without a stall, the target latency goes back to what the playlist asks (PART-HOLD-BACK). */
const STALL_FORGIVEN_MS = 30_000;


export function Player({ src, title, sessionId, lowLatency = false, replay = false }: PlayerProps) {
  const video = useRef<HTMLVideoElement>(null);
  const hlsRef = useRef<HlsInstance | null>(null);
  const [levels, setLevels] = useState<Level[]>([]);
  const [choice, setChoice] = useState(-1); // -1: auto
  const [latency, setLatency] = useState<number | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [llOn, setLlOn] = useState(lowLatency);

  useEffect(() => {
    const el = video.current;
    if (!el) return;
    let stopped = false;
    const url = sameOrigin(src);
    /** This player's LL state: on (and tuned), seeked to the edge once, the last stall, PART-HOLD-BACK. */
    const ll = { on: lowLatency, seeked: false, lastStall: 0, holdBack: null as number | null };
    const onPlaying = () => {
      // once playing, one seek to the live edge: hls.js starts a little behind it and its rate
      // catch-up only acts with more than a second of buffer (the prototype: 0.65–0.94 s vs 1.35 s)
      const edge = hlsRef.current?.liveSyncPosition ?? null;
      if (!ll.on || ll.seeked || edge === null || edge <= el.currentTime) return;
      ll.seeked = true;
      el.currentTime = edge;
    };
    el.addEventListener('playing', onPlaying);
    (async () => {
      const { default: Hls } = await import('hls.js/dist/hls.light.mjs');
      if (stopped) return;
      if (!Hls.isSupported()) {
        // Safari on iOS: no MSE, native HLS instead (its own quality choice)
        if (el.canPlayType('application/vnd.apple.mpegurl')) el.src = url;
        else setProblem('This browser can not play the stream.');
        return;
      }
      const hls = new Hls({
        // hls.js's default: parts are used only when a playlist has them
        lowLatencyMode: true,
        ...(lowLatency ? LL_TUNING : {}),
        backBufferLength: 30,
      });
      hlsRef.current = hls;
      hls.on(Hls.Events.LEVEL_LOADED, (_e, data) => {
        const d = data.details;
        if (!d.partList || !d.partTarget) return;
        ll.holdBack = d.partHoldBack || ll.holdBack;
        if (!ll.on) {
          ll.on = true;
          Object.assign(hls.config, LL_TUNING); // read by hls.js on every tick
          setLlOn(true);
        }
      });
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        setLevels(data.levels.map((l, index) => ({ index, height: l.height })).sort((a, b) => b.height - a.height));
        void el.play().catch(() => undefined); // muted autoplay; otherwise the controls start it
      });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) ll.lastStall = Date.now();
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
          setProblem('The stream is not reachable right now; retrying…');
          setTimeout(() => hls.startLoad(), 2_000);
        } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else setProblem('Playback stopped with an error.');
      });
      hls.on(Hls.Events.FRAG_LOADED, () => setProblem(null));
      hls.loadSource(url);
      hls.attachMedia(el);
    })();
    const timer = setInterval(() => {
      const hls = hlsRef.current;
      setLatency(hls && Number.isFinite(hls.latency) && hls.latency > 0 ? hls.latency : null);
      forgiveStalls();
    }, 1000);
    /** A stall raised the target latency for good (hls.js); a quiet while later, it goes back (the setter also clears the stall count). */
    function forgiveStalls() {
      const hls = hlsRef.current;
      if (!hls || !ll.on || ll.holdBack === null) return;
      if (Date.now() - ll.lastStall < STALL_FORGIVEN_MS) return;
      if (hls.targetLatency !== null && hls.targetLatency > ll.holdBack + 0.05) hls.targetLatency = ll.holdBack;
    }
    return () => {
      stopped = true;
      el.removeEventListener('playing', onPlaying);
      clearInterval(timer);
      hlsRef.current?.destroy();
      hlsRef.current = null;
    };
  }, [src, lowLatency]);

  // "still watching" while the video plays: the API folds it into the same viewer as the player's
  // HLS requests (one viewer per user and session), so it never counts anyone twice
  useEffect(() => {
    if (replay) return; // a replay is counted from its own requests (replay lines), not as live watching
    let timer: ReturnType<typeof setTimeout> | null = null;
    let stopped = false;
    const beat = async () => {
      let next = 10;
      const el = video.current;
      if (el && !el.paused && !el.ended) {
        try {
          next = (await api<{ nextInSeconds: number }>('POST', '/analytics/heartbeat', { sessionId })).nextInSeconds;
        } catch (err) {
          if (err instanceof ApiError && (err.status === 403 || err.status === 404)) return; // not (or no longer) allowed: stop
          if (err instanceof ApiError && err.retryAfterSeconds) next = err.retryAfterSeconds;
        }
      }
      if (!stopped) timer = setTimeout(() => void beat(), Math.max(4, next) * 1000);
    };
    timer = setTimeout(() => void beat(), 2_000);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [sessionId, replay]);

  function pick(value: number) {
    setChoice(value);
    const hls = hlsRef.current;
    if (hls) hls.currentLevel = value; // -1: automatic
  }

  return (
    <div class="player">
      <video ref={video} controls muted playsInline aria-label={`Video: ${title}`} />
      <div class="player-bar">
        {replay && <span class="badge">Replay</span>}
        {llOn && !replay && <span class="badge">Low latency</span>}
        <span class="muted" aria-live="off" data-testid="latency">
          {latency !== null ? `${latency.toFixed(1)} s behind live` : ''}
        </span>
        {levels.length > 0 && (
          <label class="inline">
            Quality
            <select value={String(choice)} onChange={(e) => pick(Number(e.currentTarget.value))}>
              <option value="-1">Auto</option>
              {levels.map((l) => (
                <option key={l.index} value={String(l.index)}>
                  {l.height}p
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      {problem && (
        <p role="status" class="muted">
          {problem}
        </p>
      )}
    </div>
  );
}
