// Takes nginx's viewer lines (one per HLS request made with a playback token, carried in batches
// by the forwarder beside nginx, see forwarder.ts) on UDP at the API node's own port number, and
// folds them into Redis in batches. Every line reaches every API node: each node folds what it
// gets and the fold ignores repeats, so a node that is down or restarting loses nothing.
// Datagrams without nginx's tag (derived from PLAYBACK_SECRET) are dropped: nobody else can
// speak for a viewer. Nothing from a datagram is ever logged.
import { createSocket, type Socket } from 'node:dgram';
import type { Log } from '../log.js';
import { DATAGRAM_HEADER } from './forwarder.js';
import { acceptsRendition, type LineSessions } from './line-sessions.js';
import { parseViewerId, PREVIEW_SESSION_ID } from './playback.js';
import type { Signals, ViewerLine } from './signals.js';

const FLUSH_MS = 500;
/** Lines kept while Redis is unreachable; beyond that the oldest go (and are counted). */
const MAX_BUFFERED = 200_000;

// v1 <msec> <viewer id> <status> <bytes> <path after the token> <request id>
const LINE = /^v1 (\d{9,11}(?:\.\d{1,3})?) ([A-Za-z0-9_-]{44}) (\d{3}) (\d{1,15}) ([A-Za-z0-9_./-]{1,200}) ([0-9a-f]{32})$/;

export type ParsedLine = Omit<ViewerLine, 'eventId'>;

/** One line of nginx's → a viewer line, or null when it is not one. */
export function parseViewerLine(text: string): ParsedLine | null {
  const m = LINE.exec(text);
  if (!m) return null;
  const viewer = parseViewerId(m[2]!);
  if (!viewer) return null;
  const path = m[5]!;
  const slash = path.indexOf('/');
  // the master playlist is the only file at the top, and "master" names nothing else
  if (slash < 0 ? path !== 'master.m3u8' : path.startsWith('master/')) return null;
  return {
    at: Math.round(Number(m[1]) * 1000),
    ...viewer,
    rendition: slash > 0 ? path.slice(0, slash) : 'master',
    bytes: Number(m[4]),
    segment: !path.endsWith('.m3u8'),
    requestId: m[6]!,
  };
}

/** A datagram from the forwarder → its lines (malformed ones counted), or null without our tag. */
export function parseViewerDatagram(data: Buffer, tag: string): { lines: ParsedLine[]; malformed: number } | null {
  const text = data.toString('latin1');
  const head = `${DATAGRAM_HEADER} ${tag}\n`;
  if (!text.startsWith(head)) return null;
  const lines: ParsedLine[] = [];
  let malformed = 0;
  for (const raw of text.slice(head.length).split('\n')) {
    if (!raw) continue;
    const l = parseViewerLine(raw);
    if (l) lines.push(l);
    else malformed++;
  }
  return { lines, malformed };
}

export interface CollectorStats {
  received: number;
  rejected: number;
  folded: number;
  late: number;
  dropped: number;
}

export interface Collector {
  /** Adds a line (a heartbeat) to the next batch. */
  add(line: ViewerLine): void;
  /** Folds what is buffered now (tests, shutdown). */
  flush(): Promise<void>;
  readonly stats: CollectorStats;
  close(): Promise<void>;
}

export function createCollector(o: { sessions: LineSessions; signals: Signals; log: Log }): Collector & { listen(port: number, host: string, tag: string): Promise<void> } {
  const stats: CollectorStats = { received: 0, rejected: 0, folded: 0, late: 0, dropped: 0 };
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
    const sessions = await o.sessions.resolve(lines, Date.now()).catch((err: unknown) => {
      waiting = lines.concat(waiting); // Postgres unreachable: the lines wait for the next flush
      throw err;
    });
    for (const l of lines) {
      const s = sessions.get(l.sessionId) ?? null;
      if (acceptsRendition(s, l.rendition)) pending.push({ ...l, eventId: s!.eventId });
      else stats.rejected++; // no such session, no stream, or not one of its stream's renditions
    }
  }

  async function flushNow() {
    await resolveEvents();
    if (pending.length === 0) return;
    const batch = pending.sort((a, b) => a.at - b.at); // per viewer in time order
    pending = [];
    try {
      stats.late += await o.signals.fold(batch);
      stats.folded += batch.length;
      if (warned) o.log.info('Viewer analytics are flowing again.');
      warned = false;
    } catch (err) {
      keep(batch);
      throw err;
    }
  }

  const flush = () => {
    flushing ??= flushNow()
      .catch((err: unknown) => {
        if (!warned) o.log.warn({ err: (err as Error).message, buffered: pending.length + waiting.length }, 'Viewer analytics are waiting: Redis or Postgres is unreachable.');
        warned = true;
      })
      .finally(() => (flushing = null));
    return flushing;
  };
  const timer = setInterval(() => void flush(), FLUSH_MS).unref();

  return {
    stats,
    add(line) {
      keep([line]);
    },
    flush,
    async listen(port, host, tag) {
      const s = createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
      s.on('message', (msg) => {
        const d = parseViewerDatagram(msg, tag);
        if (!d) return void stats.rejected++; // not from our nginx
        stats.received += d.lines.length + d.malformed;
        stats.rejected += d.malformed;
        for (const line of d.lines) {
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
