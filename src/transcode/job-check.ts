// What a live-transcode job must look like before the worker acts on it. A job comes from Redis:
// whoever can write there (or a bug) could point the worker at any directory or any host, so
// every field that reaches the filesystem, a query, a Redis key or ffmpeg is checked first.
import { z } from 'zod';
import { PLAYBACK_ID_PATTERN } from '../streams/keys.js';
import type { LiveTranscodeJob } from '../streams/types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The only shape of pull URL the ingest writes: rtmp://<host>:<port>/internal/<publish session id>. */
const PULL_URL = /^rtmp:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/internal\/([0-9a-f-]{36})$/;

const number = z.number().finite().nullable();
const codec = z.string().regex(/^[A-Za-z0-9:_.-]{1,32}$/);
const jobSchema = z.object({
  streamId: z.string().regex(UUID, 'not a uuid'),
  publishSessionId: z.string().regex(UUID, 'not a uuid'),
  playbackId: z.string().regex(PLAYBACK_ID_PATTERN, 'not a playback id (20 lowercase letters and digits)'),
  profile: z.string().regex(/^[a-z0-9_-]{1,40}$/, 'not a profile name'),
  pullUrl: z.string().max(300),
  source: z.object({
    videoCodec: codec,
    audioCodec: codec.nullable(),
    width: number,
    height: number,
    fps: number,
    videoBitrateKbps: number,
    audioBitrateKbps: number,
    avcProfile: z.object({ profileIdc: z.number().int(), constraints: z.number().int(), levelIdc: z.number().int() }).nullable(),
  }),
  record: z.boolean().optional(),
  lowLatency: z.boolean().optional(),
});

export type JobCheck = { ok: true; job: LiveTranscodeJob } | { ok: false; problem: string };

/**
 * Checks a job's payload: ids, the playback id (it names a directory), the profile name, the
 * source description, and that the pull URL names one of `pullHosts` ("host:port", lowercase)
 * and this job's own publish session.
 */
export function checkLiveJob(data: unknown, o: { pullHosts: readonly string[] }): JobCheck {
  const parsed = jobSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'the job'}: ${i.message}`);
    return { ok: false, problem: issues.slice(0, 5).join('; ') };
  }
  const job = parsed.data;
  const m = PULL_URL.exec(job.pullUrl);
  if (!m) return { ok: false, problem: 'pullUrl is not an rtmp://<host>:<port>/internal/<publish session> URL' };
  const target = `${m[1]!.toLowerCase()}:${Number(m[2])}`;
  if (!o.pullHosts.includes(target)) {
    return { ok: false, problem: `pullUrl names ${target}, which is not one of the ingests this worker pulls from (INGEST_PULL_HOSTS: ${o.pullHosts.join(', ')})` };
  }
  if (m[3] !== job.publishSessionId) return { ok: false, problem: 'pullUrl names another publish session than the job' };
  return { ok: true, job };
}
