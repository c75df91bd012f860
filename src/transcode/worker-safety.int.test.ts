// What the worker hands to ffmpeg, and what it accepts from a job, against a real worker process:
// ffmpeg's environment holds none of the role's secrets; a forged job touches nothing.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import t from 'tap';
import { freePort } from '../local/processes.js';
import { publishTestPattern, testEnv, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { LIVE_JOB_OPTIONS, LIVE_TRANSCODE, liveJobId, TRANSCODE_QUEUE } from './jobs.js';

const stack = await startStack(t, { workers: 1 });
const worker = stack.roles.find((r) => r.name === 'worker-1')!;

/** Child processes of `parent` named `comm` (the worker's ffmpeg: setpriv execs it in place). */
function childrenOf(parent: number, comm: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && name === comm) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

t.test('the live ffmpeg holds none of the worker’s secrets in its environment', async (t) => {
  const s = await stack.createStream('environment');
  publishTestPattern(t, { url: stack.rtmpUrl(s.streamKey), width: 320, height: 240, fps: 10, seconds: 60, videoKbps: 300 });
  const pid = await waitFor(() => childrenOf(worker.child.pid!, 'ffmpeg')[0], { what: 'the worker’s ffmpeg', timeoutMs: 30_000 });
  t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /\/internal\//, 'it is the live transcode');
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  const names = environ.map((e) => e.slice(0, e.indexOf('=')));
  t.ok(names.includes('PATH'), 'PATH is there');
  // tap's process-info hook patches child_process in every process it starts (the worker too) and
  // adds its own variables to their children: test instrumentation, not the worker's doing
  const tapHook = (e: string) => e.startsWith('_TAPJS_PROCESSINFO_') || (e.startsWith('NODE_OPTIONS=') && e.includes('@tapjs/processinfo'));
  const own = environ.filter((e) => !tapHook(e)).map((e) => e.slice(0, e.indexOf('=')));
  t.same(own.filter((n) => !['PATH', 'LANG', 'LC_ALL'].includes(n)), [], `nothing but PATH and the locale (${own.join(', ')})`);
  const text = environ.join('\n');
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'INTERNAL_API_KEY', 'PLAYBACK_SECRET']) {
    const value = stack.env[name]!;
    t.ok(value.length >= 16, `${name} is set for the worker`);
    t.notOk(text.includes(value), `${name}'s value is not in ffmpeg's environment`);
  }
  await stack.waitForMaster(s.playbackId);
  // the status is written a moment after the master playlist appears: wait for it, don't race it
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'the stream to be live', timeoutMs: 10_000 });
  t.equal(await stack.streamStatus(s.id), 'live', 'and with that environment the stream goes live');
});

t.test('a forged job (a path for a playback id, a pull URL to another host) touches nothing', async (t) => {
  const redis = new Redis(testEnv().redisUrl);
  const queue = new Queue(TRANSCODE_QUEUE, { connection: redis, prefix: stack.env.REDIS_PREFIX });
  t.teardown(async () => {
    await queue.close();
    redis.disconnect();
  });
  // where a forged pull URL points: another address, and the ingest's host on another port
  const connections: string[] = [];
  const listen = async (host: string) => {
    const server = net.createServer((socket) => {
      connections.push(host);
      socket.destroy();
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    t.teardown(() => new Promise((r) => server.close(r)));
    return `${host}:${port}`;
  };
  const [otherHost, otherPort] = [await listen('127.0.0.2'), await listen('127.0.0.1')];

  // each job names a publish session that is open, as a real one would
  const openSession = async (title: string) => {
    const s = await stack.createStream(title);
    const { rows } = await stack.db.query(`INSERT INTO publish_sessions (stream_id, ingest_id) VALUES ($1, 'ingest') RETURNING id`, [s.id]);
    await stack.db.query('UPDATE streams SET current_publish_session_id = $2 WHERE id = $1', [s.id, rows[0].id]);
    return { ...s, publishSessionId: rows[0].id as string };
  };
  const source = { videoCodec: 'h264', audioCodec: 'aac', width: 320, height: 240, fps: 10, videoBitrateKbps: 300, audioBitrateKbps: 128, avcProfile: null };
  const hlsBefore = readdirSync(path.join(stack.mediaDir, 'hls'));
  const forged: [string, Awaited<ReturnType<typeof openSession>>, (s: Awaited<ReturnType<typeof openSession>>) => Record<string, unknown>, RegExp][] = [
    ['a path for a playback id', await openSession('forged-1'), (s) => ({ playbackId: '../../etc', pullUrl: `rtmp://${otherHost}/internal/${s.publishSessionId}` }), /playbackId: not a playback id/],
    ['a pull URL to another host', await openSession('forged-2'), (s) => ({ pullUrl: `rtmp://${otherHost}/internal/${s.publishSessionId}` }), /pullUrl names 127\.0\.0\.2:\d+, which is not one of the ingests/],
    ['a pull URL to another port of the ingest host', await openSession('forged-3'), (s) => ({ pullUrl: `rtmp://${otherPort}/internal/${s.publishSessionId}` }), /pullUrl names 127\.0\.0\.1:\d+, which is not one/],
  ];
  for (const [what, s, fields, reason] of forged) {
    const data = { streamId: s.id, publishSessionId: s.publishSessionId, playbackId: s.playbackId, profile: 'default', source, ...fields(s) };
    await queue.add(LIVE_TRANSCODE, data, { ...LIVE_JOB_OPTIONS, jobId: liveJobId(s.publishSessionId) });
    const job = await waitFor(async () => {
      const j = await queue.getJob(liveJobId(s.publishSessionId));
      return j?.failedReason ? j : null;
    }, { what: `the ${what} job to fail`, timeoutMs: 15_000 });
    t.match(job.failedReason, reason, `${what}: refused, saying why`);
    t.equal(await job.getState(), 'failed', `${what}: failed for good`);
    t.equal(job.attemptsMade, 1, `${what}: not retried`);
  }
  await new Promise((r) => setTimeout(r, 1_000));
  t.same(connections, [], 'no connection to where the forged pull URLs point');
  t.notOk(existsSync(path.join(stack.mediaDir, 'hls', '../../etc')), 'no directory where the forged playback id points');
  t.same(readdirSync(path.join(stack.mediaDir, 'hls')), hlsBefore, 'no new media directory');
  t.match(worker.output(), /Refused a transcode job: pullUrl names 127\.0\.0\.2/, 'a clear log line');
  const { rows } = await stack.db.query(`SELECT count(*)::int AS n FROM publish_sessions WHERE worker_id IS NOT NULL AND stream_id IN (SELECT id FROM streams WHERE title LIKE 'forged-%')`);
  t.equal(rows[0].n, 0, 'no transcode was recorded for them');
});
