// Moderation: the one place that answers "may this person take part in this event now" beyond
// their role (access.ts). Mutes and bans per event: a mute stops a user chatting and asking in
// the event's sessions (until it ends or is lifted); a ban also takes them out of the event's
// rooms on every node and keeps them out of its chat, polls, Q&A, rooms, playback URLs and
// viewer counts. Staff — whoever may moderate — cannot be restricted. Built once in the
// composition root and handed to chat, polls, Q&A, analytics, the session answers and the
// WebSocket server, so each refusal has one code (`banned`, `muted`) wherever it happens.
// Flood limits per user live here too (rate-limits.ts, in Redis): `take` answers `rate_limited`.
import { assertMay, roleMay, type Role } from '../access.js';
import { AppError, conflict, notFound } from '../errors.js';
import type { Principal } from '../principal.js';
import type { EventsService } from '../events/service.js';
import type { Log } from '../log.js';
import type { Hub } from '../realtime/hub.js';
import type pg from 'pg';
import type { Counted, RateAction, RateLimiters } from './rate-limits.js';
import * as repo from './repo.js';
import type { Restriction, RestrictionKind } from './repo.js';

export type { Restriction, RestrictionKind } from './repo.js';

export interface ModerationService {
  list(asker: Principal, eventId: string, o: { kind?: RestrictionKind; limit: number; after?: { at: Date; userId: string; kind: RestrictionKind } }): Promise<Restriction[]>;
  /** Mutes (or re-mutes with new terms); no minutes = until lifted. */
  mute(asker: Principal, eventId: string, o: { userId: string; minutes?: number; reason?: string }): Promise<{ restriction: Restriction; created: boolean }>;
  unmute(asker: Principal, eventId: string, userId: string): Promise<void>;
  /** Bans and takes the user out of the event's rooms on every node. */
  ban(asker: Principal, eventId: string, o: { userId: string; reason?: string }): Promise<{ restriction: Restriction; created: boolean }>;
  unban(asker: Principal, eventId: string, userId: string): Promise<void>;
  /** The event a session belongs to, as the asker may see it (WebSocket actions name a session). */
  eventOfSession(asker: Principal, sessionId: string): Promise<string>;
  /** What stops this user in the event now. */
  live(eventId: string, userId: string): Promise<Partial<Record<RestrictionKind, { until: Date | null }>>>;
  /** Whether the user is banned from the event now. */
  isBanned(eventId: string, userId: string): Promise<boolean>;
  /** Which of these (event, user) pairs are banned now, as "<eventId> <userId>" (viewer lines, per batch). */
  bannedAmong(pairs: { eventId: string; userId: string }[]): Promise<Set<string>>;
  /** Reading the event's live channels (chat history, rooms, playback, heartbeats): throws `banned`. */
  assertMayRead(me: Pick<Principal, 'id'>, eventId: string): Promise<void>;
  /**
   * Re-checking open rooms: for each of these users, their role now and why they may no longer
   * read the event (null: they may) — the event's visibility rule (events.readers, the rule every
   * read uses) and then assertMayRead's ban rule, with a code the client can act on.
   */
  roomAccess(eventId: string, userIds: string[]): Promise<Map<string, RoomAccess>>;
  /** Taking part: chat and questions (throw `banned` or `muted`), votes and upvotes (throw `banned`). */
  assertMayPost(me: Pick<Principal, 'id'>, eventId: string, what: 'chat' | 'question' | 'vote' | 'upvote'): Promise<void>;
  /**
   * Takes one point of the user's (or, without a user, the IP's) budget for the action, across
   * every node, REST and WebSocket: throws 429 `rate_limited` with retryAfterSeconds. Call it
   * before any other work so a flood costs one Redis round trip per refusal.
   */
  take(who: Counted, action: RateAction): Promise<void>;
}

export interface ModerationDeps {
  db: pg.Pool;
  hub: Hub;
  events: EventsService;
  log: Log;
  /** Called after a ban or an unban is committed (the playback gate revokes or restores URLs at once); must not throw. */
  onBanChange?: (change: { eventId: string; userId: string; banned: boolean }) => Promise<void>;
  /** Built before the services that need it (events' join takes from it directly). */
  rateLimits: RateLimiters;
}

export interface RoomAccess {
  /** null: the user no longer exists. */
  role: Role | null;
  /** Why the user may not read the event now: not_found, forbidden (a draft), not_attendee (private), banned. */
  refusal: AppError | null;
}

const goneError = () => new AppError(404, 'not_found', 'This event is no longer available.');
const unpublishedError = () => new AppError(403, 'forbidden', 'This event is a draft now: only organisers may follow it.');
const notAttendeeError = () => new AppError(403, 'not_attendee', 'This event is private and you are not among its attendees (or speakers).');

export const bannedError = () => new AppError(403, 'banned', 'You were removed from this event by a moderator.');

export function mutedError(until: Date | null): AppError {
  const when = until ? `until ${until.toISOString()}` : 'until a moderator lifts it';
  return new AppError(403, 'muted', `A moderator muted you in this event ${when}; you cannot chat or ask questions.`, { until: until ? until.toISOString() : null });
}

export function createModerationService(deps: ModerationDeps): ModerationService {
  const { db, hub, events, log } = deps;

  /** The event (404 if the asker may not see it) and the target, who must exist and not be staff. */
  async function checkTarget(asker: Principal, eventId: string, userId: string, kind: RestrictionKind) {
    assertMay(asker, 'chat.moderate');
    await events.get(asker, eventId);
    const role = (await repo.userRole(db, userId)) as Role | null;
    if (!role) throw notFound('The user');
    if (roleMay(role, 'chat.moderate')) throw conflict(`A ${role} cannot be ${kind === 'mute' ? 'muted' : 'banned'}; change their role first.`, 'cannot_restrict_staff');
  }

  async function restrict(asker: Principal, eventId: string, o: { userId: string; kind: RestrictionKind; minutes: number | null; reason: string }) {
    await checkTarget(asker, eventId, o.userId, o.kind);
    const { created } = await repo.upsertRestriction(db, { eventId, userId: o.userId, kind: o.kind, minutes: o.minutes, reason: o.reason, createdBy: asker.id });
    const restriction = await repo.findRestriction(db, eventId, o.userId, o.kind);
    if (!restriction) throw notFound('The user'); // deleted meanwhile
    return { restriction, created };
  }

  async function lift(asker: Principal, eventId: string, userId: string, kind: RestrictionKind) {
    assertMay(asker, 'chat.moderate');
    await events.get(asker, eventId);
    if (!(await repo.deleteRestriction(db, eventId, userId, kind))) throw notFound(kind === 'mute' ? 'The mute' : 'The ban');
    if (kind === 'ban') await deps.onBanChange?.({ eventId, userId, banned: false });
    log.info({ eventId, userId, by: asker.id }, `Lifted a ${kind}.`);
  }

  return {
    async list(asker, eventId, o) {
      assertMay(asker, 'chat.moderate');
      await events.get(asker, eventId);
      return repo.listRestrictions(db, { eventId, ...o });
    },

    async mute(asker, eventId, o) {
      const result = await restrict(asker, eventId, { userId: o.userId, kind: 'mute', minutes: o.minutes ?? null, reason: o.reason ?? '' });
      log.info({ eventId, userId: o.userId, by: asker.id, minutes: o.minutes ?? null }, 'Muted a user in an event.');
      return result;
    },

    unmute: (asker, eventId, userId) => lift(asker, eventId, userId, 'mute'),

    async ban(asker, eventId, o) {
      const result = await restrict(asker, eventId, { userId: o.userId, kind: 'ban', minutes: null, reason: o.reason ?? '' });
      // The ban is committed before the kick, so a kicked socket that re-joins at once is refused.
      // If the kick cannot go out (Redis down), a new ban is taken back: nothing half-done.
      try {
        await hub.kick(o.userId, eventId, bannedError().message);
      } catch (err) {
        if (result.created) await repo.deleteRestriction(db, eventId, o.userId, 'ban').catch(() => undefined);
        throw err;
      }
      await deps.onBanChange?.({ eventId, userId: o.userId, banned: true });
      log.info({ eventId, userId: o.userId, by: asker.id }, 'Banned a user from an event.');
      return result;
    },

    unban: (asker, eventId, userId) => lift(asker, eventId, userId, 'ban'),

    async eventOfSession(asker, sessionId) {
      return (await events.session(asker, sessionId)).event.id;
    },

    live: (eventId, userId) => repo.liveRestrictions(db, eventId, userId),

    isBanned: async (eventId, userId) => (await repo.isRestricted(db, eventId, userId, 'ban')) !== null,

    bannedAmong: async (pairs) => new Set((await repo.bannedAmong(db, pairs)).map((p) => `${p.eventId} ${p.userId}`)),

    async assertMayRead(me, eventId) {
      if (await repo.isRestricted(db, eventId, me.id, 'ban')) throw bannedError();
    },

    async roomAccess(eventId, userIds) {
      const readers = await events.readers(eventId, userIds);
      const banned = new Set((await repo.bannedAmong(db, userIds.map((userId) => ({ eventId, userId })))).map((b) => b.userId));
      return new Map(
        userIds.map((id): [string, RoomAccess] => {
          const r = readers.get(id);
          if (!r) return [id, { role: null, refusal: goneError() }];
          const refusal = r.hidden === 'unpublished' ? unpublishedError() : r.hidden === 'private' ? notAttendeeError() : banned.has(id) ? bannedError() : null;
          return [id, { role: r.role, refusal }];
        }),
      );
    },

    async assertMayPost(me, eventId, what) {
      const r = await repo.liveRestrictions(db, eventId, me.id);
      if (r.ban) throw bannedError();
      if (r.mute && (what === 'chat' || what === 'question')) throw mutedError(r.mute.until);
    },

    take: (who, action) => deps.rateLimits.take(who, action),
  };
}
