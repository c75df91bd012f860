// The shapes the events service works with (rows mapped to camelCase, dates as Date).
import type { StreamStatus } from '../streams/types.js';

export const EVENT_STATUSES = ['draft', 'published'] as const;
export const VISIBILITIES = ['public', 'unlisted', 'private'] as const;
export const PHASES = ['upcoming', 'live', 'past'] as const;

export type EventStatus = (typeof EVENT_STATUSES)[number];
export type Visibility = (typeof VISIBILITIES)[number];
export type Phase = (typeof PHASES)[number];

export interface Branding {
  primaryColor?: string;
  secondaryColor?: string;
  logoUrl?: string;
  bannerUrl?: string;
}

/** The fields an organiser sets. */
export interface EventFields {
  title: string;
  description: string;
  startsAt: Date;
  endsAt: Date;
  timezone: string;
  status: EventStatus;
  visibility: Visibility;
  attendeeLimit: number | null;
  branding: Branding;
}

export interface Event extends EventFields {
  id: string;
  attendeeCount: number;
  phase: Phase;
  createdAt: Date;
  updatedAt: Date;
}

/** An event as one caller sees it: whether they attend it, whether they speak at it. */
export interface EventForCaller extends Event {
  joined: boolean;
  speaking: boolean;
}

/** What events care about who is asking (derived from the Principal by callerOf): staff see drafts and private events and may watch anything. */
export interface VisibilityScope {
  id: string;
  staff: boolean;
}

export interface Attendee {
  user: { id: string; name: string; email: string };
  joinedAt: Date;
}

export interface Session {
  id: string;
  eventId: string;
  title: string;
  description: string;
  startsAt: Date;
  endsAt: Date;
  streamId: string | null;
  /** The assigned stream's state and playback id; null when no stream is assigned. */
  stream: { status: StreamStatus; playbackId: string } | null;
  speakers: { id: string; name: string }[];
  createdAt: Date;
  updatedAt: Date;
}

export interface SessionFields {
  title: string;
  description: string;
  startsAt: Date;
  endsAt: Date;
  streamId: string | null;
}
