// Event sessions: time slots inside their event, with speakers and an optional stream. A stream
// serves one session at a time: two sessions using the same stream may not overlap.
import type pg from 'pg';
import { withTransaction } from '../db/pool.js';
import { badRequest, conflict, notFound } from '../errors.js';
import type { Log } from '../log.js';
import * as repo from './repo.js';
import * as sessions from './sessions-repo.js';
import type { Principal } from '../principal.js';
import { callerOf, fieldError, isFkViolation, type Page } from './caller.js';
import type { Event, EventForCaller, Session, SessionFields } from './types.js';

export interface SessionInput extends SessionFields {
  speakerIds: string[];
}

export interface SessionsService {
  /** The event's sessions, with the event as the caller sees it (for the watch rule). */
  sessions(asker: Principal, eventId: string, o: Page): Promise<{ event: EventForCaller; sessions: Session[] }>;
  session(asker: Principal, id: string): Promise<{ event: EventForCaller; session: Session }>;
  /** The sessions the caller speaks at (in events they may see), with those events as the caller sees them. */
  speakerSessions(asker: Principal, o: Page): Promise<{ events: Map<string, EventForCaller>; sessions: Session[] }>;
  createSession(asker: Principal, eventId: string, input: Omit<SessionInput, 'description' | 'streamId' | 'speakerIds'> & Partial<SessionInput>): Promise<{ event: EventForCaller; session: Session }>;
  /** Changes the fields given (speakerIds replaces the list; streamId null unassigns). */
  updateSession(asker: Principal, id: string, patch: Partial<SessionInput>): Promise<{ event: EventForCaller; session: Session }>;
  deleteSession(id: string): Promise<void>;
}

/** Checks the merged session against its event, its speakers and its stream's other sessions. */
async function checkSession(client: pg.PoolClient, o: { event: Event; next: SessionInput; sessionId: string | null; speakersGiven: boolean }): Promise<void> {
  const { event, next } = o;
  if (next.endsAt <= next.startsAt) throw fieldError('endsAt', 'endsAt must be after startsAt');
  if (next.startsAt < event.startsAt) throw fieldError('startsAt', `startsAt must not be before the event starts (${event.startsAt.toISOString()})`);
  if (next.endsAt > event.endsAt) throw fieldError('endsAt', `endsAt must not be after the event ends (${event.endsAt.toISOString()})`);
  if (o.speakersGiven && next.speakerIds.length > 0) {
    const missing = await repo.missingUsers(client, next.speakerIds);
    if (missing.length > 0) throw fieldError('speakerIds', `no user has the id ${missing.join(', ')}`);
  }
  if (next.streamId) {
    if (!(await sessions.streamExists(client, next.streamId))) throw fieldError('streamId', `no stream has the id ${next.streamId}`);
    await sessions.lockStreamAssignments(client, next.streamId);
    const other = await sessions.overlappingSession(client, { streamId: next.streamId, startsAt: next.startsAt, endsAt: next.endsAt, exceptId: o.sessionId });
    if (other) {
      throw conflict(
        `The stream is already assigned to session "${other.title}" (${other.id}) at an overlapping time; a stream serves one session at a time.`,
        'stream_in_use',
      );
    }
  }
}

export function createSessionsService(deps: {
  db: pg.Pool;
  log: Log;
  /** Called after a session is created, changed or deleted (the playback gate re-reads the windows); must not throw. */
  afterChange?: () => Promise<void>;
}): SessionsService {
  const { db, log } = deps;
  const changed = async () => deps.afterChange?.();

  async function visibleEvent(asker: Principal, eventId: string, what: string): Promise<EventForCaller> {
    const event = await repo.findVisibleEvent(db, callerOf(asker), eventId);
    if (!event) throw notFound(what);
    return event;
  }

  async function read(asker: Principal, id: string) {
    const session = await sessions.findSession(db, id);
    if (!session) throw notFound('The session');
    return { event: await visibleEvent(asker, session.eventId, 'The session'), session };
  }

  /** Runs a session write; a stream or user deleted meanwhile is a 400, not a 500. */
  async function write<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    try {
      return await withTransaction(db, fn);
    } catch (err) {
      if (isFkViolation(err)) throw badRequest('A speaker, the stream or the event was removed meanwhile; try again.');
      throw err;
    }
  }

  return {
    async sessions(asker, eventId, o) {
      const event = await visibleEvent(asker, eventId, 'The event');
      return { event, sessions: await sessions.listSessions(db, eventId, o) };
    },

    session: read,

    async speakerSessions(asker, o) {
      const list = await sessions.listSpeakerSessions(db, callerOf(asker), o);
      const events = new Map<string, EventForCaller>();
      // a page names few events; each is read as the caller sees it (the watch rule needs that)
      for (const eventId of new Set(list.map((s) => s.eventId))) {
        const event = await repo.findVisibleEvent(db, callerOf(asker), eventId);
        if (event) events.set(eventId, event);
      }
      // an event hidden between the two reads takes its sessions with it
      return { events, sessions: list.filter((s) => events.has(s.eventId)) };
    },

    async createSession(asker, eventId, input) {
      const next: SessionInput = { description: '', streamId: null, speakerIds: [], ...input };
      next.speakerIds = [...new Set(next.speakerIds.map((u) => u.toLowerCase()))];
      const id = await write(async (client) => {
        // FOR SHARE: an event update (FOR UPDATE) that moves the event's times waits for us, and we for it.
        const event = await repo.lockEvent(client, eventId, 'SHARE');
        if (!event) throw notFound('The event');
        await checkSession(client, { event, next, sessionId: null, speakersGiven: true });
        const sessionId = await sessions.insertSession(client, eventId, next);
        await sessions.insertSpeakers(client, sessionId, next.speakerIds);
        return sessionId;
      });
      log.info({ eventId, sessionId: id }, 'Created an event session.');
      await changed();
      return read(asker, id);
    },

    async updateSession(asker, id, patch) {
      await write(async (client) => {
        const current = await sessions.findSession(client, id);
        if (!current) throw notFound('The session');
        const event = await repo.lockEvent(client, current.eventId, 'SHARE');
        if (!event) throw notFound('The session');
        const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<SessionInput>;
        const next: SessionInput = { ...current, speakerIds: current.speakers.map((s) => s.id), ...defined };
        next.speakerIds = [...new Set(next.speakerIds.map((u) => u.toLowerCase()))];
        await checkSession(client, { event, next, sessionId: id, speakersGiven: patch.speakerIds !== undefined });
        await sessions.updateSession(client, id, next);
        if (patch.speakerIds !== undefined) {
          await sessions.deleteSpeakers(client, id);
          await sessions.insertSpeakers(client, id, next.speakerIds);
        }
      });
      log.info({ sessionId: id }, 'Updated an event session.');
      await changed();
      return read(asker, id);
    },

    async deleteSession(id) {
      if (!(await sessions.deleteSession(db, id))) throw notFound('The session');
      log.info({ sessionId: id }, 'Deleted an event session.');
      await changed();
    },
  };
}
