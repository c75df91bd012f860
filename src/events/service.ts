// Events, their sessions, speakers and attendees. What a caller may see is decided in SQL
// (repo.ts); who may do what by role comes from the authorisation table (access.ts).
import type pg from 'pg';
import { assertMay, roleMay, ROLES, type Role } from '../access.js';
import type { Config } from '../config.js';
import { withTransaction } from '../db/pool.js';
import { badRequest, conflict, forbidden, notFound } from '../errors.js';
import type { Log } from '../log.js';
import type { RateLimiters } from '../moderation/rate-limits.js';
import type { Bus } from '../redis/bus.js';
import * as repo from './repo.js';
import { createSessionsService, type SessionsService } from './sessions-service.js';
import type { Principal } from '../principal.js';
import { callerOf, fieldError, isFkViolation, type Page } from './caller.js';
import type { Attendee, Event, EventFields, EventForCaller, Phase } from './types.js';

export type { Page } from './caller.js';

export interface EventsService extends SessionsService {
  list(asker: Principal, o: Page & { phase?: Phase }): Promise<EventForCaller[]>;
  get(asker: Principal, id: string): Promise<EventForCaller>;
  create(asker: Principal, fields: EventFields): Promise<Event>;
  /** Changes the fields given; the merged result is checked as a whole. */
  update(id: string, patch: Partial<EventFields>): Promise<Event>;
  remove(id: string): Promise<void>;
  /** `created` is false when the caller already attended (nothing changes). */
  join(asker: Principal, id: string): Promise<{ created: boolean; attendeeCount: number }>;
  leave(asker: Principal, id: string): Promise<void>;
  attendees(asker: Principal, id: string, o: Page): Promise<Attendee[]>;
  addAttendees(id: string, userIds: string[]): Promise<{ added: number; alreadyAttending: number; attendeeCount: number }>;
  /** Takes one attendee off the event (404 for an unknown event or a user who does not attend). */
  removeAttendee(id: string, userId: string): Promise<void>;
  /**
   * Whether each of these users may see the event now, by the rule every read uses (repo.ts
   * VISIBLE), with their current role: for re-checking open WebSocket rooms. A user missing from
   * the answer no longer exists, or the event does not.
   */
  readers(id: string, userIds: string[]): Promise<Map<string, Reader>>;
}

/** Why an event is hidden from a user who could see it before: a draft again, or private without them. */
export interface Reader {
  role: Role;
  hidden: null | 'unpublished' | 'private';
}

/** Roles that see drafts and private events (the same table entry as callerOf). */
const STAFF_ROLES = ROLES.filter((r) => roleMay(r, 'events.seeAll'));

/** How long a change waits to be announced to the API nodes before answering anyway. */
const ANNOUNCE_TIMEOUT_MS = 2_000;

const fullMessage = (limit: number | null) => `This event is full: all ${limit ?? 0} places are taken.`;

export function createEventsService(deps: { db: pg.Pool; bus: Bus; log: Log; config: Config; rateLimits: Pick<RateLimiters, 'take'>; afterSessionChange?: () => Promise<void> }): EventsService {
  const { db, log } = deps;

  /**
   * Tells every API node to re-check who may stay in the event's rooms (only this user's sockets
   * when userId is given). Awaited before answering, so anything published after the change reaches
   * nobody who lost access (nodes hold the event's rooms until the check is done). A lost message is
   * healed by each node's periodic re-check (ROOM_RECHECK_SECONDS).
   */
  async function roomsChanged(eventId: string, userId: string | null) {
    // the change is committed: Redis down or frozen delays the rooms, never the answer
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!deps.bus.ready()) throw new Error('Redis is unreachable');
      await Promise.race([
        deps.bus.publish('realtime.recheck', { eventId, userId }),
        new Promise((_r, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ANNOUNCE_TIMEOUT_MS))),
      ]);
    } catch (err) {
      log.warn({ err: (err as Error).message, eventId }, "Could not announce an event's access change on the bus; open rooms are re-checked on the next periodic round.");
    } finally {
      clearTimeout(timer);
    }
  }

  async function visible(asker: Principal, id: string): Promise<EventForCaller> {
    const event = await repo.findVisibleEvent(db, callerOf(asker), id);
    if (!event) throw notFound('The event');
    return event;
  }

  const sessions = createSessionsService({ db, log, afterChange: deps.afterSessionChange });

  return {
    ...sessions,

    async updateSession(asker, id, patch) {
      const changed = await sessions.updateSession(asker, id, patch);
      // a speaker taken off a private event's session may no longer read it
      if (patch.speakerIds !== undefined) await roomsChanged(changed.event.id, null);
      return changed;
    },

    list(asker, o) {
      const list = o.phase === 'past' ? repo.listEventsByEnd : repo.listEventsByStart;
      return list(db, callerOf(asker), o);
    },

    get: visible,

    async create(asker, fields) {
      const event = await repo.insertEvent(db, { ...fields, createdBy: asker.id });
      log.info({ eventId: event.id }, 'Created an event.');
      return event;
    },

    async update(id, patch) {
      let accessChanged = false;
      const event = await withTransaction(db, async (client) => {
        const current = await repo.lockEvent(client, id, 'UPDATE');
        if (!current) throw notFound('The event');
        const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<EventFields>;
        const next: EventFields = { ...current, ...defined };
        if (next.endsAt <= next.startsAt) {
          throw fieldError(patch.endsAt ? 'endsAt' : 'startsAt', 'endsAt must be after startsAt');
        }
        if (next.attendeeLimit !== null && next.attendeeLimit < current.attendeeCount) {
          throw conflict(
            `attendeeLimit cannot be ${next.attendeeLimit}: ${current.attendeeCount} people already attend. Remove attendees first or choose a limit of at least ${current.attendeeCount}.`,
            'attendee_limit_below_count',
          );
        }
        if (patch.startsAt || patch.endsAt) {
          const outside = await repo.sessionOutside(client, { eventId: id, startsAt: next.startsAt, endsAt: next.endsAt });
          if (outside) {
            throw conflict(`Session "${outside.title}" (${outside.id}) would fall outside the event's new times; move or delete it first.`, 'session_outside_event');
          }
        }
        accessChanged = next.status !== current.status || next.visibility !== current.visibility;
        return (await repo.updateEvent(client, id, next))!;
      });
      log.info({ eventId: id }, 'Updated an event.');
      if (accessChanged) await roomsChanged(id, null);
      return event;
    },

    async remove(id) {
      if (!(await repo.deleteEvent(db, id))) throw notFound('The event');
      log.info({ eventId: id }, 'Deleted an event with its sessions and attendees.');
      await roomsChanged(id, null);
      await deps.afterSessionChange?.(); // its sessions' URLs stop at once
    },

    async join(asker, id) {
      await deps.rateLimits.take(asker, 'join'); // first: a flood is refused before any query
      const event = await visible(asker, id);
      if (event.joined) return { created: false, attendeeCount: event.attendeeCount };
      if (event.status !== 'published') throw conflict('This event is not published yet; it cannot be joined.', 'event_not_published');
      if (event.visibility === 'private') throw forbidden('This event is private: only an organiser can add attendees to it.');
      if (event.phase === 'past') throw conflict('This event has ended.', 'event_ended');
      try {
        return await withTransaction(db, async (client) => {
          // The attendee row first (a second join by the same user stops here), then the count,
          // which refuses once the limit is reached; throwing rolls the attendee row back.
          if (!(await repo.insertAttendee(client, id, asker.id))) return { created: false, attendeeCount: await repo.attendeeCount(client, id) };
          const attendeeCount = await repo.countAttendees(client, id, 1);
          if (attendeeCount === null) throw conflict(fullMessage(event.attendeeLimit), 'event_full');
          return { created: true, attendeeCount };
        });
      } catch (err) {
        if (isFkViolation(err)) throw notFound('The event');
        throw err;
      }
    },

    async leave(asker, id) {
      await visible(asker, id);
      const left = await withTransaction(db, async (client) => {
        if (!(await repo.deleteAttendee(client, id, asker.id))) return false;
        await repo.uncountAttendee(client, id);
        return true;
      });
      if (left) await roomsChanged(id, asker.id); // a private event's rooms are theirs no longer
    },

    async removeAttendee(id, userId) {
      await withTransaction(db, async (client) => {
        if (!(await repo.lockEvent(client, id, 'UPDATE'))) throw notFound('The event');
        if (!(await repo.deleteAttendee(client, id, userId))) throw notFound('The attendee');
        await repo.uncountAttendee(client, id);
      });
      log.info({ eventId: id, userId }, 'Removed an attendee from an event.');
      await roomsChanged(id, userId);
    },

    async readers(id, userIds) {
      const rows = await repo.readersOf(db, { eventId: id, userIds, staffRoles: STAFF_ROLES });
      return new Map(rows.map((r) => [r.userId, { role: r.role as Role, hidden: r.visible ? null : r.status !== 'published' ? 'unpublished' : 'private' }]));
    },

    async attendees(asker, id, o) {
      const event = await visible(asker, id);
      assertMay(asker, 'events.attendees.list', { eventSpeaker: event.speaking });
      return repo.listAttendees(db, id, o);
    },

    async addAttendees(id, userIds) {
      const ids = [...new Set(userIds.map((u) => u.toLowerCase()))];
      const result = await withTransaction(db, async (client) => {
        const event = await repo.lockEvent(client, id, 'UPDATE');
        if (!event) throw notFound('The event');
        const missing = await repo.missingUsers(client, ids);
        if (missing.length > 0) {
          const shown = missing.slice(0, 20).join(', ') + (missing.length > 20 ? ` and ${missing.length - 20} more` : '');
          throw badRequest('The request body is not valid.', {
            errors: [{ field: 'body.userIds', message: `no user has the id ${shown}` }],
            unknownUserIds: missing,
          });
        }
        const added = await repo.insertAttendees(client, id, ids);
        let attendeeCount = event.attendeeCount;
        if (added.length > 0) {
          const counted = await repo.countAttendees(client, id, added.length);
          if (counted === null) {
            throw conflict(
              `Adding ${added.length} attendees would pass the limit of ${event.attendeeLimit} (${event.attendeeCount} attend already); nobody was added.`,
              'event_full',
            );
          }
          attendeeCount = counted;
        }
        return { added: added.length, alreadyAttending: ids.length - added.length, attendeeCount };
      });
      log.info({ eventId: id, added: result.added }, 'Added attendees to an event.');
      return result;
    },
  };
}
