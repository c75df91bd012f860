// Viewer analytics for organisers: live figures from Redis (signals.ts), the rest from what the
// roll-up wrote to Postgres, chat/poll/Q&A activity, engagement per attendee; heartbeats from
// our web player; the admin's user activity report.
import { assertMay, roleMay } from '../access.js';
import type { Db } from '../db/pool.js';
import { conflict, tooMany } from '../errors.js';
import type { Principal } from '../principal.js';
import type { EventsService } from '../events/service.js';
import type { ModerationService } from '../moderation/service.js';
import { watchRule } from '../events/view.js';
import type { Redis } from '../redis/connection.js';
import type { Collector } from './collector.js';
import { ENGAGEMENT_FORMULA, engagementScore } from './engagement.js';
import * as repo from './repo.js';
import { userActivityReport, type ActivityRow } from './report.js';
import type { Signals } from './signals.js';
import { streamSessionStats } from './stream-sessions.js';

/** Our player sends one every HEARTBEAT_SECONDS; more often than MIN_HEARTBEAT_MS is refused. */
export const HEARTBEAT_SECONDS = 10;
const MIN_HEARTBEAT_MS = 4_000;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function figures(t: repo.Totals, minutes: repo.MinuteRow[], current: number, now: Date) {
  const top = minutes.reduce<repo.MinuteRow | null>((best, m) => (!best || m.peakViewers > best.peakViewers ? m : best), null);
  // the live count can be above what the roll-up has written so far
  const peak = top && top.peakViewers >= current ? { n: top.peakViewers, at: top.peakAt ?? top.minute } : current > 0 ? { n: current, at: now } : null;
  const watchTimeSeconds = Math.round(t.watchMs / 1000);
  return {
    currentViewers: current,
    peakViewers: peak?.n ?? 0,
    peakAt: iso(peak?.at ?? null),
    uniqueViewers: t.uniqueViewers,
    watchTimeSeconds,
    averageWatchSeconds: t.uniqueViewers > 0 ? Math.round(watchTimeSeconds / t.uniqueViewers) : 0,
    series: series(minutes),
    chat: { messages: t.messages, senders: t.senders },
    polls: { polls: t.polls, votes: t.votes, voters: t.voters },
    questions: { questions: t.questions, answered: t.answered, upvotes: t.upvotes },
  };
}

/** Every minute from the first to the last with data; the gaps are minutes nobody watched. */
function series(minutes: repo.MinuteRow[]) {
  if (minutes.length === 0) return [];
  const byMinute = new Map(minutes.map((m) => [m.minute.getTime(), m]));
  const out: { minute: string; viewers: number; peakViewers: number }[] = [];
  for (let t = minutes[0]!.minute.getTime(); t <= minutes.at(-1)!.minute.getTime(); t += 60_000) {
    const m = byMinute.get(t);
    out.push({ minute: new Date(t).toISOString(), viewers: m?.viewers ?? 0, peakViewers: m?.peakViewers ?? 0 });
  }
  return out;
}

function engagement(people: repo.PersonActivity[], scope: { scheduledSeconds: number; polls: number }, top: number) {
  const scored = people.map((p) => ({ ...p, score: engagementScore(p, scope) }));
  scored.sort((a, b) => b.score - a.score || b.watchSeconds - a.watchSeconds || a.name.localeCompare(b.name) || a.userId.localeCompare(b.userId));
  return { formula: ENGAGEMENT_FORMULA, total: scored.length, attendees: scored.slice(0, top) };
}

const seconds = (s: { startsAt: Date; endsAt: Date }) => Math.max(0, (s.endsAt.getTime() - s.startsAt.getTime()) / 1000);

export function createAnalyticsService(deps: { db: Db; redis: Redis; redisPrefix: string; signals: Signals; collector: Collector; events: EventsService; moderation: Pick<ModerationService, 'assertMayRead'> }) {
  const { db, redis, signals, events } = deps;

  return {
    signals,

    async session(me: Principal, sessionId: string, o: { top: number }) {
      const { event, session } = await events.session(me, sessionId);
      assertMay(me, 'analytics.read', { eventSpeaker: event.speaking });
      const now = new Date();
      const [t, minutes, live, people, streamSessions, replay] = await Promise.all([
        repo.totals(db, [sessionId]),
        repo.sessionMinutes(db, sessionId),
        signals.watchingNow('s', [sessionId], now.getTime()),
        repo.activityIn(db, event.id, [sessionId]),
        streamSessionStats(db, sessionId),
        repo.replayServed(db, [sessionId]),
      ]);
      return {
        sessionId,
        eventId: event.id,
        title: session.title,
        ...figures(t, minutes, live.get(sessionId) ?? 0, now),
        replay,
        engagement: engagement(people, { scheduledSeconds: seconds(session), polls: t.polls }, o.top),
        asOf: now.toISOString(),
        streamSessions,
      };
    },

    async event(me: Principal, eventId: string, o: { top: number }) {
      const event = await events.get(me, eventId);
      assertMay(me, 'analytics.read', { eventSpeaker: event.speaking });
      const now = new Date();
      const sessions = await repo.eventSessions(db, eventId);
      const ids = sessions.map((s) => s.id);
      const [t, minutes, live, perSessionLive, perSession, people, replay] = await Promise.all([
        repo.totals(db, ids),
        repo.eventMinutes(db, eventId, ids),
        signals.watchingNow('e', [eventId], now.getTime()),
        signals.watchingNow('s', ids, now.getTime()),
        repo.perSession(db, ids),
        repo.activityIn(db, eventId, ids),
        repo.replayServed(db, ids),
      ]);
      return {
        eventId,
        title: event.title,
        ...figures(t, minutes, live.get(eventId) ?? 0, now),
        replay,
        engagement: engagement(people, { scheduledSeconds: sessions.reduce((n, s) => n + seconds(s), 0), polls: t.polls }, o.top),
        asOf: now.toISOString(),
        sessions: sessions.map((s) => {
          const p = perSession.get(s.id);
          const current = perSessionLive.get(s.id) ?? 0;
          return {
            sessionId: s.id,
            title: s.title,
            currentViewers: current,
            peakViewers: Math.max(p?.peakViewers ?? 0, current),
            uniqueViewers: p?.uniqueViewers ?? 0,
            watchTimeSeconds: Math.round((p?.watchMs ?? 0) / 1000),
          };
        }),
      };
    },

    /** Our player's "still watching" signal: counts the caller as one viewer of the session. */
    async heartbeat(me: Principal, sessionId: string): Promise<{ counted: true; nextInSeconds: number }> {
      const { event, session } = await events.session(me, sessionId);
      const watch = watchRule(session, { staff: roleMay(me.role, 'events.seeAll'), event });
      if (!watch.allowed) throw conflict(watch.reason ?? 'You may not watch this session.', 'not_watching');
      await deps.moderation.assertMayRead(me, event.id); // a banned attendee is no viewer
      // one counted heartbeat per viewer and session every few seconds: hammering adds nothing
      const key = `${deps.redisPrefix}:an:hb:${me.id}:${sessionId}`;
      if ((await redis.set(key, '1', 'PX', MIN_HEARTBEAT_MS, 'NX')) === null) {
        const left = await redis.pttl(key);
        throw tooMany('Heartbeats come every few seconds at most; this one was not counted.', Math.max(1, Math.ceil(left / 1000)));
      }
      deps.collector.add({ sessionId, eventId: event.id, userId: me.id, at: Date.now(), rendition: '', bytes: 0, segment: false, requestId: '' });
      return { counted: true, nextInSeconds: HEARTBEAT_SECONDS };
    },

    report(o: { eventId?: string }): Promise<ActivityRow[]> {
      return userActivityReport(db, o);
    },
  };
}

export type AnalyticsService = ReturnType<typeof createAnalyticsService>;
