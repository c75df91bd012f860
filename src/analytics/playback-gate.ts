// The playback gate: which viewer URLs nginx serves now, decided per request without asking the API.
// secure_link checks a URL's integrity (and a generous expiry); then nginx serves it only while
//   <media>/access/open/<session>   exists (the session's window is open: src/analytics/playback-window.ts)
//   <media>/access/deny/<viewer id> does not (the viewer is banned from the session's event).
// The API nodes keep these files in line with Postgres: every node runs a pass every
// PLAYBACK_GATE_EVERY, and at once after a change that moves them (a session written, a ban, an
// unban), answering only when the files are right. A pass is idempotent and safe on several nodes at
// once: files are created with O_EXCL and removed when stale, and a file another node wrote just
// before this pass read the database is left for the next pass (it may stand for a change this pass
// did not see). Later rules (replay URLs, access codes) add marker kinds, not a new check.
// Replays (src/recordings/) are the first such kind: <media>/access/replay/<recording id> exists
// while the recording is ready, and the viewers banned from its session's event are denied (the
// same deny markers as live), so a replay plays after the event and a ban still stops it.
import { constants } from 'node:fs';
import { chmod, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../db/pool.js';
import type { Log } from '../log.js';
import { DENY_MARKERS, OPEN_MARKERS, REPLAY_MARKERS, uuidToB64, viewerId } from './playback.js';
import { bannedViewers, candidateSessions, replayableRecordings } from './playback-gate-repo.js';
import { playbackWindow } from './playback-window.js';

export interface PlaybackGate {
  /** Runs a pass that starts after this call (sharing one already queued); rejects if it fails. */
  sync(): Promise<void>;
  /** Like sync, for hooks after a change: never rejects (the timer's next pass retries). */
  refresh(): Promise<void>;
  /** Passes every `everySeconds` until stopped. */
  start(everySeconds: number): { stop(): Promise<void> };
}

export interface GateState {
  /** Sessions whose URLs may play now (base64url session ids). */
  open: Set<string>;
  /** Viewers refused now (viewer ids). */
  deny: Set<string>;
  /** Recordings whose replay URLs may play now (recording ids). */
  replay: Set<string>;
}

/** A marker written less than this before a pass read the database may reflect a change it missed. */
const FRESH_MS = 1_000;
const MARKER = /^(?:[A-Za-z0-9_-]{22}(?:[A-Za-z0-9_-]{22})?|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/**
 * The sessions whose window is open now, or at `at` (of one stream, when given): the definition
 * of which session a stream's broadcast belongs to — the one whose window was open when its
 * publish began (a stream serves one session at a time, so at most one per stream). The playback
 * gate opens their URLs; `stream:status` frames go to their rooms.
 */
export async function openSessions(db: Db, o: { leadSeconds: number; graceSeconds: number; streamId?: string; at?: Date }): Promise<{ id: string; streamId: string }[]> {
  const rules = { leadMs: o.leadSeconds * 1000, graceMs: o.graceSeconds * 1000 };
  const open: { id: string; streamId: string }[] = [];
  for (const r of await candidateSessions(db, o)) {
    const w = playbackWindow(rules, {
      session: { startsAt: r.startsAt, endsAt: r.endsAt },
      previous: r.prevStartsAt && r.prevEndsAt ? { startsAt: r.prevStartsAt, endsAt: r.prevEndsAt } : null,
      nextStartsAt: r.nextStartsAt,
      publishStartedAt: r.publishStartedAt,
      now: r.now,
    });
    if (w.open) open.push({ id: r.id, streamId: r.streamId });
  }
  return open;
}

/** What the files should say now, from the database. */
export async function desiredState(db: Db, o: { leadSeconds: number; graceSeconds: number }): Promise<GateState> {
  const open = (await openSessions(db, o)).map((s) => s.id);
  const replays = await replayableRecordings(db);
  // bans count in every session whose URLs play: open ones, and those with a replay
  const playing = new Set([...open, ...replays.flatMap((r) => (r.sessionId ? [r.sessionId] : []))]);
  const deny = (await bannedViewers(db, [...playing])).map((b) => viewerId(b.sessionId, b.userId));
  return { open: new Set(open.map(uuidToB64)), deny: new Set(deny), replay: new Set(replays.map((r) => r.id)) };
}

async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755); // nginx's workers (www-data under root) must look inside
}

/**
 * Creates the missing markers, or removes the stale ones. `mine` remembers the markers this process
 * created (with their mtime): its passes run one at a time, so those may go at once; a fresh marker
 * from elsewhere (another node) may stand for a change this pass did not read, so it waits a pass.
 */
async function syncDir(o: { dir: string; want: Set<string>; readAt: number; what: 'create' | 'remove'; mine: Map<string, number> }): Promise<number> {
  const have = new Set(await readdir(o.dir));
  let changes = 0;
  if (o.what === 'create') {
    for (const name of o.want) {
      if (have.has(name)) continue;
      const file = path.join(o.dir, name);
      try {
        await (await open(file, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644)).close();
        o.mine.set(file, (await stat(file)).mtimeMs);
        changes++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return changes;
  }
  for (const file of o.mine.keys()) {
    if (path.dirname(file) === o.dir && !have.has(path.basename(file))) o.mine.delete(file); // removed elsewhere
  }
  for (const name of have) {
    if (o.want.has(name) && MARKER.test(name)) continue;
    const file = path.join(o.dir, name);
    try {
      const mtime = (await stat(file)).mtimeMs;
      if (o.mine.get(file) !== mtime && mtime >= o.readAt - FRESH_MS) continue;
      await unlink(file);
      o.mine.delete(file);
      changes++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return changes;
}

export function createPlaybackGate(o: { db: Db; mediaDir: string; leadSeconds: number; graceSeconds: number; log: Log }): PlaybackGate {
  const openDir = path.join(o.mediaDir, OPEN_MARKERS);
  const denyDir = path.join(o.mediaDir, DENY_MARKERS);
  const replayDir = path.join(o.mediaDir, REPLAY_MARKERS);
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  const mine = new Map<string, number>();

  async function pass(): Promise<void> {
    const readAt = Date.now();
    const want = await desiredState(o.db, o);
    await ensureDir(openDir);
    await ensureDir(denyDir);
    await ensureDir(replayDir);
    const deny = { dir: denyDir, want: want.deny, readAt, mine };
    const allow = { dir: openDir, want: want.open, readAt, mine };
    const replay = { dir: replayDir, want: want.replay, readAt, mine };
    // deny before open, so that a session opening now never plays for its banned viewers
    const denied = await syncDir({ ...deny, what: 'create' });
    const opened = (await syncDir({ ...allow, what: 'create' })) + (await syncDir({ ...replay, what: 'create' }));
    const closed = (await syncDir({ ...allow, what: 'remove' })) + (await syncDir({ ...replay, what: 'remove' }));
    const undenied = await syncDir({ ...deny, what: 'remove' });
    if (opened + closed + denied + undenied > 0) {
      o.log.info({ opened, closed, denied, undenied, open: want.open.size, replays: want.replay.size }, 'Playback gate: brought the session, replay and ban markers in line.');
    }
  }

  function sync(): Promise<void> {
    if (queued) return queued;
    const after = running ? running.catch(() => undefined) : Promise.resolve();
    const next: Promise<void> = after.then(() => {
      if (queued === next) queued = null;
      const p = pass();
      running = p;
      p.then(
        () => running === p && (running = null),
        () => running === p && (running = null),
      );
      return p;
    });
    queued = next;
    return next;
  }

  const refresh = () => sync().catch((err: Error) => o.log.warn({ err: err.message }, 'Playback gate: a pass failed; the next one retries.'));

  return {
    sync,
    refresh,
    start(everySeconds) {
      let timer: NodeJS.Timeout | null = null;
      let stopped = false;
      const tick = async () => {
        await refresh();
        if (!stopped) timer = setTimeout(() => void tick(), everySeconds * 1000);
      };
      void tick();
      return {
        async stop() {
          stopped = true;
          if (timer) clearTimeout(timer);
          await (running ?? Promise.resolve()).catch(() => undefined);
        },
      };
    },
  };
}
