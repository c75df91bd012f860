// A stream's live health as the console shows it, for staff (a stream's page) and for a session's
// speakers (My sessions): the live picture, what the source sends, how the transcoder keeps up,
// the renditions, and the log told to the broadcaster of the latest publish.
import { sameOrigin } from '../urls.js';
import type { Stream } from './streams.js';

export interface PublishSession {
  id: string;
  startedAt: string;
  endedAt: string | null;
  endReason: string | null;
  source: { videoCodec: string | null; audioCodec: string | null; width: number | null; height: number | null; fps: number | null; videoBitrateKbps: number | null };
  workerId: string | null;
  log: { at: string; level: string; message: string }[];
}

/** The source as one line: size, rate, bit rate and codecs. */
export const sourceLine = (src: PublishSession['source'] | undefined) =>
  src && src.width ? `${src.width}×${src.height} · ${src.fps ?? '?'} fps · ${src.videoBitrateKbps ?? '?'} kb/s · ${src.videoCodec}/${src.audioCodec ?? 'no audio'}` : 'nothing published';

export function LiveHealth(o: {
  thumbnailUrl: string | null;
  renditions: Stream['renditions'];
  /** The current (or latest) publish; undefined before the first. */
  publish: PublishSession | undefined;
  /** Transcoder progress: shown to staff (the stream's own answer carries it). */
  progress?: Stream['progress'];
  /** Names the picture and the log for the reader when several are on one page. */
  name?: string;
}) {
  const of = o.name ? ` of ${o.name}` : '';
  return (
    <>
      <div class="health">
        {o.thumbnailUrl && <img src={sameOrigin(o.thumbnailUrl)} alt={`Live picture${of}`} width={320} height={180} />}
        <dl>
          <dt>Source</dt>
          <dd>{sourceLine(o.publish?.source)}</dd>
          {o.progress !== undefined && (
            <>
              <dt>Transcoder</dt>
              <dd>{o.progress ? `speed ${o.progress.speed?.toFixed(2) ?? '?'}× · ${o.progress.fps ?? '?'} fps` : '—'}</dd>
            </>
          )}
          <dt>Renditions</dt>
          <dd>{o.renditions.map((r) => `${r.name}${r.passthrough ? ' (source)' : ''}`).join(', ') || '—'}</dd>
          {o.progress !== undefined && (
            <>
              <dt>Worker</dt>
              <dd>{o.publish?.workerId ?? '—'}</dd>
            </>
          )}
        </dl>
      </div>
      {o.publish && (
        <>
          <h3>What the broadcaster was told</h3>
          <ol class="log" aria-label={`Publish log${of}`}>
            {o.publish.log.slice(-20).map((l, i) => (
              <li key={i} class={`log-${l.level}`}>
                <time>{new Date(l.at).toLocaleTimeString()}</time> {l.message}
              </li>
            ))}
          </ol>
        </>
      )}
    </>
  );
}
