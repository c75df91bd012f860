// What events and sessions look like on the wire, and the schemas that document it.
// The watch rule ("joining is the ticket") lives here: a session's playback URL is handed only to
// staff, the event's speakers and its joined attendees — never a stream key.
import { z } from 'zod';
import { viewerPlaybackUrl, viewerThumbnailUrl } from '../analytics/playback.js';
import type { Config } from '../config.js';
import { isoDate } from '../http/schemas.js';
import { showsThumbnail } from '../thumbnails.js';
import { bannedError } from '../moderation/service.js';
import type { Attendee, Branding, Event, EventForCaller, Session } from './types.js';
import { EVENT_STATUSES, PHASES, VISIBILITIES } from './types.js';
import { STREAM_STATUSES } from '../streams/types.js';


export const brandingSchema = z.object({
  primaryColor: z.string().nullable(),
  secondaryColor: z.string().nullable(),
  logoUrl: z.string().nullable(),
  bannerUrl: z.string().nullable(),
});

export const eventSchema = z.object({
  id: z.uuid(),
  title: z.string(),
  description: z.string(),
  startsAt: isoDate,
  endsAt: isoDate,
  timezone: z.string().describe('IANA time zone the event is presented in.'),
  status: z.enum(EVENT_STATUSES),
  visibility: z.enum(VISIBILITIES),
  phase: z.enum(PHASES).describe('upcoming: not started; live: started, not ended; past: ended.'),
  attendeeLimit: z.number().int().nullable(),
  attendeeCount: z.number().int(),
  joined: z.boolean().describe('Whether you attend this event.'),
  branding: brandingSchema,
  createdAt: isoDate,
  updatedAt: isoDate,
});

export const sessionSchema = z.object({
  id: z.uuid(),
  eventId: z.uuid(),
  title: z.string(),
  description: z.string(),
  startsAt: isoDate,
  endsAt: isoDate,
  speakers: z.array(z.object({ id: z.uuid(), name: z.string() })),
  streamId: z.uuid().nullable().describe('The assigned stream; shown to staff only (null for others).'),
  streamStatus: z.enum(STREAM_STATUSES).nullable().describe('The assigned stream’s state; null when no stream is assigned.'),
  live: z.boolean(),
  playbackUrl: z
    .string()
    .nullable()
    .describe(
      'HLS master playlist; only for staff, the event’s speakers and its joined attendees who are not banned. Personal: it carries the caller’s playback token (one viewer per user and session), so do not share it. ' +
        'It plays this session only: from PLAYBACK_LEAD before its start (not before the previous session on the stream closes) until PLAYBACK_GRACE after its end, longer while its broadcast runs over, never after the next session on the stream starts; nginx answers 403 outside that window.',
    ),
  thumbnailUrl: z
    .string()
    .nullable()
    .describe(
      'A JPEG of the live picture, renewed every few seconds, for lists and consoles; given with playbackUrl (same token, window and bans; fetching it is not counted as watching). Null unless the stream is live and its picture is fresh.',
    ),
  watchUrl: z.string().describe('The session’s watch page in the web face (the player, chat, polls and Q&A); signed-out visitors sign in there first.'),
  watch: z.object({ allowed: z.boolean(), reason: z.string().nullable() }).describe('Whether you may watch, and if not, why.'),
  createdAt: isoDate,
  updatedAt: isoDate,
});

export const attendeeSchema = z.object({
  user: z.object({ id: z.uuid(), name: z.string(), email: z.string() }),
  joinedAt: isoDate,
});

const brandingView = (b: Branding) => ({
  primaryColor: b.primaryColor ?? null,
  secondaryColor: b.secondaryColor ?? null,
  logoUrl: b.logoUrl ?? null,
  bannerUrl: b.bannerUrl ?? null,
});

export function eventView(e: Event | EventForCaller): z.output<typeof eventSchema> {
  return {
    id: e.id,
    title: e.title,
    description: e.description,
    startsAt: e.startsAt.toISOString(),
    endsAt: e.endsAt.toISOString(),
    timezone: e.timezone,
    status: e.status,
    visibility: e.visibility,
    phase: e.phase,
    attendeeLimit: e.attendeeLimit,
    attendeeCount: e.attendeeCount,
    joined: 'joined' in e ? e.joined : false,
    branding: brandingView(e.branding),
    createdAt: e.createdAt.toISOString(),
    updatedAt: e.updatedAt.toISOString(),
  };
}

/** What the caller may do with the session's stream. */
export function watchRule(s: Session, who: { staff: boolean; event: EventForCaller; banned?: boolean }): { allowed: boolean; reason: string | null } {
  if (!s.stream) return { allowed: false, reason: 'No stream is assigned to this session yet.' };
  // asked of the moderation service by the caller (session-routes.ts); staff cannot be banned
  if (who.banned && !who.staff) return { allowed: false, reason: bannedError().message };
  if (who.staff || who.event.speaking || who.event.joined) return { allowed: true, reason: null };
  return { allowed: false, reason: 'Join the event to watch.' };
}

export function sessionView(
  config: Pick<Config, 'hlsHost' | 'publicScheme' | 'playbackTokens' | 'playbackSecret' | 'playbackWindow'>,
  s: Session,
  who: { staff: boolean; event: EventForCaller; userId: string; banned?: boolean; freshThumbnails?: ReadonlySet<string> },
): z.output<typeof sessionSchema> {
  const watch = watchRule(s, who);
  // each viewer gets their own URL while playback tokens are on (viewer analytics, src/analytics/playback.ts);
  // it plays during the session's window only (src/analytics/playback-window.ts)
  const validUntilMs = s.endsAt.getTime() + config.playbackWindow.graceSeconds * 1000;
  const viewer = (playbackId: string) => ({ playbackId, sessionId: s.id, userId: who.userId, validUntilMs });
  const url = (playbackId: string) => viewerPlaybackUrl(config, viewer(playbackId));
  // the live picture, with the same token as the playback URL; only while the worker keeps it fresh
  const thumbnail = watch.allowed && !!s.stream && showsThumbnail(s.stream.status) && who.freshThumbnails?.has(s.stream.playbackId);
  return {
    id: s.id,
    eventId: s.eventId,
    title: s.title,
    description: s.description,
    startsAt: s.startsAt.toISOString(),
    endsAt: s.endsAt.toISOString(),
    speakers: s.speakers,
    streamId: who.staff ? s.streamId : null,
    streamStatus: s.stream?.status ?? null,
    // viewers keep watching while the publisher reconnects (the playlists go on after it)
    live: s.stream?.status === 'live' || s.stream?.status === 'reconnecting',
    playbackUrl: watch.allowed && s.stream ? url(s.stream.playbackId) : null,
    thumbnailUrl: thumbnail && s.stream ? viewerThumbnailUrl(config, viewer(s.stream.playbackId)) : null,
    watchUrl: `${config.publicScheme}://${config.hlsHost}/watch/${s.id}`,
    watch,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

export const attendeeView = (a: Attendee) => ({ user: a.user, joinedAt: a.joinedAt.toISOString() });
