// The LL-HLS playlist origin's HTTP side (node:http). nginx forwards two kinds of request here,
// after its own token and playback-gate checks (src/local/nginx-config.ts), on the plain path:
//   GET|HEAD /hls/<playbackId>/<rendition>/index.m3u8[?_HLS_msn=M[&_HLS_part=N]]  — a media playlist not on disk
//   GET|HEAD /hls/<playbackId>/<rendition>/<name>.m4s                                — a part nginx did not find
// Playlists follow draft-pantos-hls-rfc8216bis §6.2.5.2 (blocking.ts): held until the newest
// message satisfies the directives, then the whole newest playlist; 400 for bad directives; 503
// after 3 × target duration. A part is held only while it is the playlist's preload hint, then
// handed back to nginx with X-Accel-Redirect (the origin never reads media); anything else is 404
// at once (§6.2.6). Nothing here throws at a client: every request gets an answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Log } from '../log.js';
import { PLAYBACK_ID_PATTERN } from '../streams/keys.js';
import { checkDirectives, parseDirectives, satisfies, type Directives } from './blocking.js';
import { LL_MEDIA_NAME_PATTERN, RENDITION_PATTERN, type LlPartMessage } from './feed.js';
import type { OriginMetrics, Outcome } from './origin-metrics.js';
import type { Entry, OriginState, Waiter } from './origin-state.js';

export const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
/** The header nginx sends with the URI the viewer asked for (token path or plain), where a held part is handed back to. */
export const RETURN_URI_HEADER = 'x-onair-uri';
/** Marks a part handed back to nginx: if nginx asks again for it (the file is not readable there), 404 rather than a redirect loop. */
const HANDED_BACK = 'onair_handed_back';

export interface OriginHttpOptions {
  state: OriginState;
  log: Log;
  metrics: OriginMetrics;
  /** Seconds: how long a request for a stream not known yet may wait for its first message is 3 × this. */
  defaultTargetDuration: number;
  /** Held requests at most (each is an open upstream connection of nginx's); beyond: 503. */
  maxHeld: number;
  /** /healthz: whether the bus is up. */
  ready: () => boolean;
  /** /metrics (Bearer INTERNAL_API_KEY). */
  scrape: (req: IncomingMessage, res: ServerResponse) => void;
}

const PATH = /^\/hls\/([^/]{1,64})\/([^/]{1,16})\/([^/]{1,80})$/;
const newestOf = (m: LlPartMessage) => ({ msn: m.msn, part: m.part, partTarget: m.partTarget, ended: m.ended });

export function createOriginHttp(o: OriginHttpOptions) {
  const held = new Set<() => void>(); // each held request's "answer 503 now" (shutdown)
  let closing = false;

  const plain = (res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}) => {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
  };

  const count = (kind: 'playlist' | 'part', outcome: Outcome) => o.metrics.answered.inc({ kind, outcome });

  const sendPlaylist = (req: IncomingMessage, res: ServerResponse, e: Entry) => {
    if (res.headersSent || res.destroyed) return;
    const gzip = acceptsGzip(req.headers['accept-encoding']);
    const body = gzip ? o.state.gzipOf(e) : e.body!;
    res.writeHead(200, {
      'content-type': PLAYLIST_TYPE,
      'cache-control': 'no-cache',
      vary: 'Accept-Encoding',
      'content-length': body.length,
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  /** Holds a request on an entry until `waiter.wake` answers it, the deadline passes, or the client goes. */
  const hold = (res: ServerResponse, e: Entry, o2: { kind: 'playlist' | 'part'; timeoutMs: number; wake: Waiter['wake']; onTimeout: () => void }) => {
    if (held.size >= o.maxHeld || closing) {
      count(o2.kind, 'unavailable');
      return plain(res, 503, 'The origin holds too many requests; try again.\n');
    }
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      e.waiters.delete(waiter);
      held.delete(abort);
      o.metrics.held.dec({ kind: o2.kind });
    };
    const waiter: Waiter = {
      wake(entry, w) {
        if (done) return true;
        const answered = o2.wake(entry, w);
        if (answered) finish();
        return answered;
      },
    };
    const abort = () => {
      finish();
      count(o2.kind, 'unavailable');
      plain(res, 503, 'The origin is stopping; try again.\n', { connection: 'close' });
    };
    const timer = setTimeout(() => {
      finish();
      o2.onTimeout();
    }, o2.timeoutMs);
    res.once('close', () => {
      if (!done) count(o2.kind, 'client_gone');
      finish();
    });
    e.waiters.add(waiter);
    held.add(abort);
    o.metrics.held.inc({ kind: o2.kind });
  };

  const playlist = async (req: IncomingMessage, res: ServerResponse, pid: string, rend: string, query: string) => {
    const d = parseDirectives(query);
    if ('status' in d) {
      count('playlist', 'bad_request');
      return plain(res, 400, d.reason + '\n');
    }
    const e = await o.state.lookup(pid, rend);
    if (!e) {
      count('playlist', 'unavailable');
      return plain(res, 503, 'The origin is full; try again.\n');
    }
    const answerWith = (entry: Entry, kind: Outcome) => {
      count('playlist', kind);
      sendPlaylist(req, res, entry);
    };
    if (e.msg) {
      const refusal = checkDirectives(newestOf(e.msg), d);
      if (refusal) {
        count('playlist', 'bad_request');
        return plain(res, 400, refusal.reason + '\n');
      }
      if (satisfies(newestOf(e.msg), d)) return answerWith(e, 'ok');
    } else if (d.msn === null) {
      // an ordinary reload of a stream not known (a standard-mode stream that is not live, a typo): at once
      count('playlist', 'not_found');
      return plain(res, 404, 'No such low-latency playlist.\n');
    }
    // held: on a message that satisfies it (or starts a new presentation: the new playlist at once)
    const known = !!e.msg;
    const td = e.msg?.targetDuration ?? o.defaultTargetDuration;
    hold(res, e, {
      kind: 'playlist',
      timeoutMs: 3 * td * 1000,
      wake(entry, { reset }) {
        const m = entry.msg!;
        if (!known && !reset) {
          const refusal = checkDirectives(newestOf(m), d);
          if (refusal) {
            count('playlist', 'bad_request');
            plain(res, 400, refusal.reason + '\n');
            return true;
          }
        }
        if (!reset && !satisfies(newestOf(m), d)) return false;
        answerWith(entry, 'held_ok');
        return true;
      },
      onTimeout() {
        if (!e.msg) {
          count('playlist', 'not_found');
          return plain(res, 404, 'No such low-latency playlist.\n');
        }
        // §6.2.5.2: SHOULD 503 after three target durations. No Retry-After: the player should ask again at once.
        count('playlist', 'timeout');
        plain(res, 503, 'The playlist did not reach the requested part in time.\n');
      },
    });
  };

  const part = async (req: IncomingMessage, res: ServerResponse, pid: string, rend: string, name: string, query: string) => {
    if (new URLSearchParams(query).has(HANDED_BACK)) {
      // we handed this part back already and nginx still did not find the file: never loop
      count('part', 'not_found');
      return plain(res, 404, 'The part is not readable where nginx serves it.\n');
    }
    const e = await o.state.lookup(pid, rend);
    if (!e) {
      count('part', 'unavailable');
      return plain(res, 503, 'The origin is full; try again.\n');
    }
    const back = returnUri(req, pid, rend, name);
    const redirect = (outcome: Outcome) => {
      count('part', outcome);
      if (res.headersSent || res.destroyed) return;
      // nginx serves the file from disk at the viewer's own URI (token, gate and viewer line as for any part)
      res.writeHead(200, { 'x-accel-redirect': `${back}?${HANDED_BACK}=1`, 'cache-control': 'no-cache', 'content-length': 0 }).end();
    };
    const notFound = () => {
      count('part', 'not_found');
      plain(res, 404, 'No such part, and it is not the hinted one.\n');
    };
    const m = e.msg;
    if (!m) return notFound();
    if (name === m.partName) return redirect('ok'); // written just after nginx looked
    if (name !== m.hint) return notFound(); // §6.2.6: neither there nor hinted
    hold(res, e, {
      kind: 'part',
      timeoutMs: 3 * m.targetDuration * 1000,
      wake(entry, { reset }) {
        const now = entry.msg!;
        if (!reset && now.partName === name) {
          redirect('held_ok');
          return true;
        }
        if (reset || now.hint !== name) {
          notFound(); // the hint moved on without this part (a new presentation, the end)
          return true;
        }
        return false;
      },
      onTimeout() {
        count('part', 'timeout');
        plain(res, 503, 'The hinted part was not written in time.\n');
      },
    });
  };

  return {
    handle(req: IncomingMessage, res: ServerResponse): void {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const pathname = q < 0 ? url : url.slice(0, q);
      const query = q < 0 ? '' : url.slice(q + 1);
      if (pathname === '/healthz') return plain(res, o.ready() && !closing ? 200 : 503, o.ready() && !closing ? 'ok\n' : 'not ready\n');
      if (pathname === '/metrics') return o.scrape(req, res);
      const m = PATH.exec(pathname);
      if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'GET or HEAD only.\n', { allow: 'GET, HEAD' });
      if (!m || !PLAYBACK_ID_PATTERN.test(m[1]!) || !RENDITION_PATTERN.test(m[2]!)) return plain(res, 404, 'Not found.\n');
      const [, pid, rend, file] = m as unknown as [string, string, string, string];
      const work =
        file === 'index.m3u8'
          ? playlist(req, res, pid, rend, query)
          : file.endsWith('.m4s') && LL_MEDIA_NAME_PATTERN.test(file)
            ? part(req, res, pid, rend, file, query)
            : Promise.resolve(plain(res, 404, 'Not found.\n'));
      work.catch((err: unknown) => {
        o.log.error({ err }, 'An origin request failed.');
        plain(res, 500, 'The origin failed on this request.\n');
      });
    },
    /** Stops holding: every held request gets 503 now (the player asks again, at another origin or after the restart). */
    close(): number {
      closing = true;
      const all = [...held];
      for (const abort of all) abort();
      return all.length;
    },
    heldCount: () => held.size,
  };
}

/** Whether Accept-Encoding allows gzip (a `gzip;q=0` refuses it). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  for (const item of text.split(',')) {
    const [coding, ...params] = item.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (!q || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

/** The URI nginx should serve a held part at: the one it sent (the viewer's token path), if it names this part; else the plain path. */
function returnUri(req: IncomingMessage, pid: string, rend: string, name: string): string {
  const plainUri = `/hls/${pid}/${rend}/${name}`;
  const sent = req.headers[RETURN_URI_HEADER];
  if (typeof sent !== 'string' || !/^\/hls\/[A-Za-z0-9_./-]{1,400}$/.test(sent) || sent.includes('..')) return plainUri;
  return sent.startsWith(`/hls/${pid}/`) && sent.endsWith(`/${rend}/${name}`) ? sent : plainUri;
}

export type { Directives };
