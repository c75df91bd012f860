// What the worker hands to ffmpeg, and what it accepts from a job, against a real worker process:
// ffmpeg's environment holds none of the role's secrets.
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { publishTestPattern, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

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
  t.equal(await stack.streamStatus(s.id), 'live', 'and with that environment the stream goes live');
});
