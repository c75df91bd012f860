// The analytics answers as declared in the OpenAPI document.
import { z } from 'zod';
import { streamSessionStatsSchema } from './stream-sessions.js';

const count = z.number().int().min(0);

export const viewerFiguresSchema = {
  currentViewers: count.describe('Watching now: players that fetched a playlist or segment, or sent a heartbeat, in the last 20 s.'),
  peakViewers: count.describe('Most watching at once (sampled as viewer requests arrive).'),
  peakAt: z.string().nullable().describe('When the peak was seen.'),
  uniqueViewers: count.describe('Distinct people who watched at all.'),
  watchTimeSeconds: count.describe('Watch time of everyone together.'),
  averageWatchSeconds: count.describe('watchTimeSeconds / uniqueViewers.'),
};

const seriesSchema = z
  .array(z.object({ minute: z.string(), viewers: count.describe('Distinct people who watched during the minute.'), peakViewers: count.describe('Most at once during the minute.') }))
  .describe('One point per minute from the first minute with viewers to the last; minutes without viewers are 0.');

const activitySchema = {
  chat: z.object({ messages: count, senders: count }),
  polls: z.object({ polls: count, votes: count, voters: count }),
  questions: z.object({ questions: count, answered: count, upvotes: count }),
};

export const personSchema = z.object({
  userId: z.string(),
  name: z.string(),
  watchSeconds: count,
  messages: count,
  votes: count,
  questions: count,
  upvotes: count,
  score: z.number().int().min(0).max(100),
});

const engagementSchema = z
  .object({
    formula: z.string(),
    total: count.describe('People in the list before it was cut to `top`.'),
    attendees: z.array(personSchema).describe('Highest score first.'),
  })
  .describe('Per attendee (joined the event, or watched, chatted, voted or asked in scope).');

const common = {
  ...viewerFiguresSchema,
  replay: z
    .object({ segments: count, bytes: count })
    .describe('What replays of the recordings served (media segments, bytes with the MP4 downloads). Replay watching is counted in the viewer figures above like live watching.'),
  series: seriesSchema,
  ...activitySchema,
  engagement: engagementSchema,
  asOf: z.string().describe('When this answer was made. Rolled-up figures lag by up to ANALYTICS_ROLLUP_EVERY; currentViewers is live.'),
};

export const sessionAnalyticsSchema = z.object({
  sessionId: z.string(),
  eventId: z.string(),
  title: z.string(),
  ...common,
  streamSessions: z.array(streamSessionStatsSchema).describe('The publishes of the session’s stream around its time slot.'),
});

export const eventAnalyticsSchema = z.object({
  eventId: z.string(),
  title: z.string(),
  ...common,
  sessions: z.array(
    z.object({ sessionId: z.string(), title: z.string(), currentViewers: count, peakViewers: count, uniqueViewers: count, watchTimeSeconds: count }),
  ),
});

export const heartbeatAnswerSchema = z.object({
  counted: z.literal(true),
  nextInSeconds: z.number().int().describe('Send the next heartbeat after this many seconds.'),
});
