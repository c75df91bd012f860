// Publish-session statistics of an event session against real Postgres: which publishes belong to
// the session's window, reconnects, renditions served, numbers (not strings); and the transcoder
// figures recordProgress keeps on the publish session.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { recordProgress } from '../streams/repo.js';
import { testDatabase } from '../testing/harness.js';
import { streamSessionStats, streamSessionStatsSchema } from './stream-sessions.js';

const { pool } = await testDatabase(t);

async function id(sql: string, params: unknown[] = []): Promise<string> {
  return (await pool.query<{ id: string }>(sql, params)).rows[0]!.id;
}
const stream = () =>
  id(`INSERT INTO streams (title, key_digest, playback_id) VALUES ('S', $1, $2) RETURNING id`, [randomBytes(32), randomBytes(10).toString('hex')]);
const eventId = await id(`INSERT INTO events (title, starts_at, ends_at) VALUES ('E', '2024-03-01T09:00Z', '2024-03-01T18:00Z') RETURNING id`);
const session = (streamId: string | null, startsAt: string, endsAt: string) =>
  id(`INSERT INTO event_sessions (event_id, title, starts_at, ends_at, stream_id) VALUES ($1, 'T', $2, $3, $4) RETURNING id`, [eventId, startsAt, endsAt, streamId]);

interface Publish {
  startedAt: string;
  endedAt: string | null;
  endReason?: string;
  transcodeStarts?: number;
  /** Which connection holds the publish (one more per reconnect within the grace). */
  connection?: number;
  source?: [string, string | null, number, number, number, number, number | null];
  transcoder?: [number, number, number];
}
const publish = (streamId: string, p: Publish) =>
  id(
    `INSERT INTO publish_sessions (stream_id, ingest_id, started_at, ended_at, end_reason, transcode_starts,
       video_codec, audio_codec, width, height, fps, video_bitrate_kbps, audio_bitrate_kbps, speed_min, speed_avg, fps_min, connection)
     VALUES ($1, 'ingest-test', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id`,
    [streamId, p.startedAt, p.endedAt, p.endReason ?? null, p.transcodeStarts ?? 0, ...(p.source ?? Array(7).fill(null)), ...(p.transcoder ?? Array(3).fill(null)), p.connection ?? 1],
  );
const served = (sessionId: string, minute: string, rendition: string, segments: number, bytes: number) =>
  pool.query(`INSERT INTO rendition_minutes (session_id, minute, rendition, segments, bytes) VALUES ($1, $2, $3, $4, $5)`, [sessionId, minute, rendition, segments, bytes]);

const st = await stream();
const otherStream = await stream();
// the session 10:00–12:00 takes the publishes between 09:30 and 12:30
const s = await session(st, '2024-03-01T10:00Z', '2024-03-01T12:00Z');
const later = await session(st, '2024-03-01T14:00Z', '2024-03-01T15:00Z'); // same stream, another session
const elsewhere = await session(otherStream, '2024-03-01T10:00Z', '2024-03-01T12:00Z');
const noStream = await session(null, '2024-03-01T10:00Z', '2024-03-01T12:00Z');

await publish(st, { startedAt: '2024-03-01T08:00Z', endedAt: '2024-03-01T09:00Z', endReason: 'publisher_left' }); // before the window
const p1 = await publish(st, { startedAt: '2024-03-01T09:20Z', endedAt: '2024-03-01T09:40Z', endReason: 'publisher_left' }); // ends inside it
const p2 = await publish(st, {
  startedAt: '2024-03-01T09:40:30Z', // 30 s after p1: a reconnect
  endedAt: '2024-03-01T11:59Z',
  endReason: 'ingest_lost',
  transcodeStarts: 5,
  connection: 3, // the publisher dropped twice and came back within the grace: two of the starts
  source: ['h264', 'aac', 1920, 1080, 29.97, 4500, 128],
  transcoder: [0.912, 0.987, 29.5],
});
const p3 = await publish(st, { startedAt: '2024-03-01T12:29Z', endedAt: '2024-03-01T12:29:30Z', endReason: 'publisher_left', transcodeStarts: 1 });
await publish(st, { startedAt: '2024-03-01T12:30Z', endedAt: '2024-03-01T12:50Z' }); // starts as the window closes
await publish(otherStream, { startedAt: '2024-03-01T10:00Z', endedAt: '2024-03-01T11:00Z' });

await served(s, '2024-03-01T09:10Z', '720p', 99, 99); // before p1
await served(s, '2024-03-01T09:20Z', '720p', 10, 1000);
await served(s, '2024-03-01T09:39Z', '720p', 5, 500);
await served(s, '2024-03-01T09:40Z', '720p', 3, 300); // p1's last minute and p2's first
await served(s, '2024-03-01T10:00Z', 'master', 7, 70);
await served(s, '2024-03-01T10:00Z', '1080p', 20, 2_000_000_000);
await served(later, '2024-03-01T11:00Z', '1080p', 1, 100); // another session on the same stream counts
await served(elsewhere, '2024-03-01T10:00Z', '1080p', 1000, 1000); // another stream does not
await served(s, '2024-03-01T12:00Z', '720p', 1, 1); // after p2, before p3

const noSource = { videoCodec: null, audioCodec: null, width: null, height: null, fps: null, videoBitrateKbps: null, audioBitrateKbps: null };
const noTranscoder = { speedMin: null, speedAvg: null, fpsMin: null, restarts: 0 };

t.test("the publishes around an event session's time", async (t) => {
  const stats = await streamSessionStats(pool, s);
  streamSessionStatsSchema.array().parse(stats);
  t.strictSame(stats, [
    {
      id: p1, startedAt: '2024-03-01T09:20:00.000Z', endedAt: '2024-03-01T09:40:00.000Z', durationSeconds: 1200, endReason: 'publisher_left',
      source: noSource, transcoder: noTranscoder,
      renditionsServed: [{ rendition: '720p', segments: 18, bytes: 1800 }],
      reconnect: false,
      reconnects: 0,
    },
    {
      id: p2, startedAt: '2024-03-01T09:40:30.000Z', endedAt: '2024-03-01T11:59:00.000Z', durationSeconds: 8310, endReason: 'ingest_lost',
      source: { videoCodec: 'h264', audioCodec: 'aac', width: 1920, height: 1080, fps: 29.97, videoBitrateKbps: 4500, audioBitrateKbps: 128 },
      transcoder: { speedMin: 0.912, speedAvg: 0.987, fpsMin: 29.5, restarts: 2 },
      renditionsServed: [
        { rendition: '1080p', segments: 21, bytes: 2_000_000_100 },
        { rendition: '720p', segments: 3, bytes: 300 },
        { rendition: 'master', segments: 7, bytes: 70 },
      ],
      reconnect: true,
      reconnects: 2,
    },
    {
      id: p3, startedAt: '2024-03-01T12:29:00.000Z', endedAt: '2024-03-01T12:29:30.000Z', durationSeconds: 30, endReason: 'publisher_left',
      source: noSource, transcoder: noTranscoder, renditionsServed: [], reconnect: false, reconnects: 0,
    },
  ]);
});

t.test('a live publish: no end, duration until now', async (t) => {
  const live = await stream();
  const now = await session(live, new Date(Date.now() - 3_600_000).toISOString(), new Date(Date.now() + 3_600_000).toISOString());
  const previous = await publish(live, { startedAt: new Date(Date.now() - 630_000).toISOString(), endedAt: new Date(Date.now() - 605_000).toISOString() });
  const current = await publish(live, { startedAt: new Date(Date.now() - 600_000).toISOString(), endedAt: null, transcodeStarts: 1 });
  await served(now, new Date(Date.now() - 60_000).toISOString(), '480p', 4, 4096);
  const [a, b, ...rest] = await streamSessionStats(pool, now);
  t.equal(rest.length, 0);
  t.equal(a!.id, previous);
  t.equal(b!.id, current);
  t.equal(b!.endedAt, null);
  t.ok(b!.durationSeconds >= 599 && b!.durationSeconds <= 610, `about 600 s (${b!.durationSeconds})`);
  t.equal(b!.reconnect, true, '5 s after the previous publish ended');
  t.strictSame(b!.renditionsServed, [{ rendition: '480p', segments: 4, bytes: 4096 }]);
});

t.test('a session without a stream, an unknown session', async (t) => {
  t.strictSame(await streamSessionStats(pool, noStream), []);
  t.strictSame(await streamSessionStats(pool, '00000000-0000-4000-8000-000000000000'), []);
});

t.test('recordProgress keeps the transcoder figures on the publish session', async (t) => {
  const streamId = await stream();
  const ps = await publish(streamId, { startedAt: new Date().toISOString(), endedAt: null });
  await pool.query(`UPDATE streams SET current_publish_session_id = $2 WHERE id = $1`, [streamId, ps]);
  const sample = (speed: number | null, fps: number | null) => ({ speed, fps, bitrateKbps: 4000, outTimeSeconds: 12, updatedAt: new Date().toISOString() });
  const figures = async () =>
    (await pool.query(`SELECT progress_samples, speed_min, speed_avg, fps_min FROM publish_sessions WHERE id = $1`, [ps])).rows[0];

  await recordProgress(pool, ps, sample(1.2, 30));
  await recordProgress(pool, ps, sample(0.9, null));
  const last = sample(1.05, 29.5);
  await recordProgress(pool, ps, last);
  t.strictSame(await figures(), { progress_samples: 3, speed_min: '0.900', speed_avg: '1.050', fps_min: '29.500' });
  t.strictSame((await pool.query(`SELECT progress FROM streams WHERE id = $1`, [streamId])).rows[0].progress, last, 'the stream shows the latest progress');

  // ffmpeg's first report of a run: speed=N/A, fps=0.00 — a sample, but no measurement
  await recordProgress(pool, ps, sample(null, 0));
  t.strictSame(await figures(), { progress_samples: 4, speed_min: '0.900', speed_avg: '1.050', fps_min: '29.500' });
  // the start-up burst (the first 10 s of output) is not a speed: ignored
  await recordProgress(pool, ps, { ...sample(173, 30), outTimeSeconds: 2 });
  t.strictSame(await figures(), { progress_samples: 5, speed_min: '0.900', speed_avg: '1.050', fps_min: '29.500' });
  // the mean is over the samples that had a speed: (1.2 + 0.9 + 1.05 + 1.45) / 4
  await recordProgress(pool, ps, sample(1.45, 30));
  t.strictSame(await figures(), { progress_samples: 6, speed_min: '0.900', speed_avg: '1.150', fps_min: '29.500' });

  const [stats] = (await streamSessionStats(pool, await session(streamId, new Date().toISOString(), new Date(Date.now() + 60_000).toISOString())));
  t.strictSame(stats!.transcoder, { speedMin: 0.9, speedAvg: 1.15, fpsMin: 29.5, restarts: 0 });
});
