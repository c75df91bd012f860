// Takes nginx's viewer lines (one per HLS request made with a playback token, carried in batches
// by the forwarder beside nginx, see forwarder.ts) on UDP at the API node's own port number, and
// folds them into Redis in batches. Every line reaches every API node: each node folds what it
// gets and the fold ignores repeats, so a node that is down or restarting loses nothing.
// Each datagram is authenticated on its own (an HMAC with a key derived from PLAYBACK_SECRET)
// and taken once (viewer-datagram.ts): nobody else can speak for a viewer, and a captured
// datagram sent again changes nothing. Nothing from a datagram is ever logged.
import { createSocket, type Socket } from 'node:dgram';
import type { Log } from '../log.js';
import { acceptsLine, type LineSessions } from './line-sessions.js';
import { parseViewerId, PREVIEW_SESSION_ID } from './playback.js';
import { partMsnKey } from './ll-parts.js';
import type { LlSegmentRef, Signals, ViewerLine } from './signals.js';
import { createReplayGuard, openDatagram, type Admission } from './viewer-datagram.js';

const FLUSH_MS = 500;
/** Lines kept while Redis is unreachable; beyond that the oldest go (and are counted). */
const MAX_BUFFERED = 200_000;
/** Viewers per ban look-up (a batch usually has far fewer). */
const BAN_LOOKUP_CHUNK = 10_000;

// v1 <msec> <viewer id> <status> <bytes> <path after the token> <request id>   (live)
// r1 …the same…                                                              (a recording's replay)
const LINE = /^([vr])1 (\d{9,11}(?:\.\d{1,3})?) ([A-Za-z0-9_-]{44}) (\d{3}) (\d{1,15}) ([A-Za-z0-9_./-]{1,200}) ([0-9a-f]{32})$/;
/** A replay's lines are folded under this rendition prefix (rendition_minutes: "replay:720p", "replay:master", "replay:download"). */
export const REPLAY_PREFIX = 'replay:';

// a low-latency rendition's files (src/llhls/names.ts): <tag>-part<seq>.m4s, <tag>-seg<msn>.m4s, <tag>-init<run>.mp4
const LL_FILE = /^[^/]+\/([A-Za-z0-9]{1,16})-(?:(part|seg)(\d{1,9})\.m4s|init\d{1,9}\.mp4)$/;

/** A low-latency part or whole segment, by its name. */
export interface LlFileName {
  tag: string;
  kind: 'part' | 'seg';
  /** the part's seq, or the segment's MSN */
  n: number;
}

/**
 * A line as nginx logged it; `replay`: a recording's replay or download (r1), not the live (v1);
 * `llFile`: a live low-latency part or segment (counted once per segment by the fold).
 */
export type ParsedLine = Omit<ViewerLine, 'eventId' | 'll'> & { replay: boolean; llFile?: LlFileName };

/** One line of nginx's → a viewer line, or null when it is not one. */
export function parseViewerLine(text: string): ParsedLine | null {
  const m = LINE.exec(text);
  if (!m) return null;
  const viewer = parseViewerId(m[3]!);
  if (!viewer) return null;
  const path = m[6]!;
  const slash = path.indexOf('/');
  // the master playlist is the only file at the top, and "master" names nothing else
  if (slash < 0 ? path !== 'master.m3u8' : path.startsWith('master/')) return null;
  const replay = m[1] === 'r';
  // live low-latency files: the init section is no segment, a part or a segment counts toward its segment once
  const ll = replay ? null : LL_FILE.exec(path);
  return {
    at: Math.round(Number(m[2]) * 1000),
    ...viewer,
    rendition: slash > 0 ? path.slice(0, slash) : 'master',
    bytes: Number(m[5]),
    segment: ll ? false : !path.endsWith('.m3u8'),
    requestId: m[7]!,
    replay,
    ...(ll?.[2] ? { llFile: { tag: ll[1]!, kind: ll[2] as 'part' | 'seg', n: Number(ll[3]) } } : {}),
  };
}

/** Which segment a low-latency line counts toward; null when its stream's playback id is unknown. */
export function llSegmentRef(o: { prefix: string; playbackId: string | null; rendition: string; file: LlFileName }): LlSegmentRef | null {
  const { tag, kind, n } = o.file;
  if (kind === 'seg') return { tag, msn: n };
  if (!o.playbackId) return null;
  return { tag, seq: n, partKey: partMsnKey(o.prefix, { playbackId: o.playbackId, rendition: o.rendition, tag, seq: n }) };
}

/** The lines of an opened datagram (malformed ones counted). */
export function parseViewerLines(body: string): { lines: ParsedLine[]; malformed: number } {
  const lines: ParsedLine[] = [];
  let malformed = 0;
  for (const raw of body.split('\n')) {
    if (!raw) continue;
    const l = parseViewerLine(raw);
    if (l) lines.push(l);
    else malformed++;
  }
  return { lines, malformed };
}

export interface CollectorStats {
  /** Lines: from datagrams taken, refused (malformed, no session, not its stream's), of a banned viewer, folded, too late to fold, dropped (buffer full). */
  received: number;
  rejected: number;
  banned: number;
  folded: number;
  late: number;
  dropped: number;
  /** Datagrams: taken, refused as forged (HMAC), as a repeat, or as too old (or sent before this node started). */
  datagrams: Record<Admission | 'forged', number>;
}

export interface Collector {
  /** Adds a line (a heartbeat) to the next batch. */
  add(line: ViewerLine): void;
  /** Folds what is buffered now (tests, shutdown). */
  flush(): Promise<void>;
  readonly stats: CollectorStats;
  close(): Promise<void>;
}

export function createCollector(o: {
  sessions: LineSessions;
  signals: Signals;
  /** Which (event, user) pairs are banned now, as "<eventId> <userId>" (the moderation service's bannedAmong). */
  bannedAmong: (pairs: { eventId: string; userId: string }[]) => Promise<Set<string>>;
  log: Log;
  now?: () => number;
}): Collector & { listen(port: number, host: string, key: Buffer): Promise<void> } {
  const now = o.now ?? Date.now;
  const stats: CollectorStats = { received: 0, rejected: 0, banned: 0, folded: 0, late: 0, dropped: 0, datagrams: { accepted: 0, forged: 0, replayed: 0, stale: 0 } };
  let pending: ViewerLine[] = [];
  let waiting: ParsedLine[] = []; // lines whose session's event is being looked up
  let socket: Socket | null = null;
  let flushing: Promise<void> | null = null;
  let warned = false;

  function keep(lines: ViewerLine[]) {
    pending.push(...lines);
    if (pending.length > MAX_BUFFERED) {
      stats.dropped += pending.length - MAX_BUFFERED;
      pending = pending.slice(pending.length - MAX_BUFFERED);
    }
  }

  async function resolveEvents() {
    if (waiting.length === 0) return;
    const lines = waiting;
    waiting = [];
    const sessions = await o.sessions.resolve(lines, now()).catch((err: unknown) => {
      waiting = lines.concat(waiting); // Postgres unreachable: the lines wait for the next flush
      throw err;
    });
    for (const { replay, llFile, ...l } of lines) {
      const s = sessions.get(l.sessionId) ?? null;
      // a replay counts like live watching, its served files under their own rendition names
      if (!acceptsLine(s, { rendition: l.rendition, replay })) {
        stats.rejected++; // no such session, no stream (live), or not one of its stream's renditions
        continue;
      }
      const ll = llFile ? llSegmentRef({ prefix: o.signals.prefix, playbackId: s!.playbackId, rendition: l.rendition, file: llFile }) : null;
      pending.push({ ...l, rendition: replay ? REPLAY_PREFIX + l.rendition : l.rendition, eventId: s!.eventId, ...(ll ? { ll } : {}) });
    }
  }

  async function flushNow() {
    await resolveEvents();
    if (pending.length === 0) return;
    const all = pending;
    pending = [];
    try {
      const batch = await withoutBanned(all);
      batch.sort((a, b) => a.at - b.at); // per viewer in time order
      stats.late += await o.signals.fold(batch);
      stats.folded += batch.length;
      if (warned) o.log.info('Viewer analytics are flowing again.');
      warned = false;
    } catch (err) {
      keep(all);
      throw err;
    }
  }

  // A banned viewer stops counting with the next batch (~0.5 s): one look-up per batch for its
  // distinct viewers, never a cache that would let a fresh ban wait.
  async function withoutBanned(lines: ViewerLine[]): Promise<ViewerLine[]> {
    const pairs = new Map<string, { eventId: string; userId: string }>();
    for (const l of lines) pairs.set(`${l.eventId} ${l.userId}`, { eventId: l.eventId, userId: l.userId });
    const banned = new Set<string>();
    const all = [...pairs.values()];
    for (let i = 0; i < all.length; i += BAN_LOOKUP_CHUNK) for (const p of await o.bannedAmong(all.slice(i, i + BAN_LOOKUP_CHUNK))) banned.add(p);
    if (banned.size === 0) return lines;
    const kept = lines.filter((l) => !banned.has(`${l.eventId} ${l.userId}`));
    stats.banned += lines.length - kept.length;
    return kept;
  }

  const flushOnce = () => {
    flushing ??= flushNow()
      .catch((err: unknown) => {
        if (!warned) o.log.warn({ err: (err as Error).message, buffered: pending.length + waiting.length }, 'Viewer analytics are waiting: Redis or Postgres is unreachable.');
        warned = true;
      })
      .finally(() => (flushing = null));
    return flushing;
  };
  // one that is under way may have started before the latest lines came: fold those too
  const flush = async () => {
    if (flushing) await flushing;
    await flushOnce();
  };
  const timer = setInterval(() => void flushOnce(), FLUSH_MS).unref();

  return {
    stats,
    add(line) {
      keep([line]);
    },
    flush,
    async listen(port, host, key) {
      const guard = createReplayGuard({ now });
      const s = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
      s.on('message', (msg) => {
        const d = openDatagram(msg, key);
        if (!d) return void stats.datagrams.forged++; // not from our forwarder, or altered
        const admitted = guard.admit(d);
        stats.datagrams[admitted]++;
        if (admitted !== 'accepted') return; // a repeat, or too old to tell
        const { lines, malformed } = parseViewerLines(d.body);
        stats.received += lines.length + malformed;
        stats.rejected += malformed;
        for (const line of lines) {
          if (line.sessionId === PREVIEW_SESSION_ID) continue; // staff previews are not viewers
          if (waiting.length + pending.length >= MAX_BUFFERED) stats.dropped++;
          else waiting.push(line);
        }
      });
      s.on('error', (err) => o.log.warn({ err: err.message }, 'The viewer log socket reported an error.'));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, host, () => (s.off('error', reject), resolve()));
      });
      socket = s;
    },
    async close() {
      clearInterval(timer);
      if (socket) await new Promise<void>((r) => socket!.close(() => r()));
      socket = null;
      await flush();
    },
  };
}
