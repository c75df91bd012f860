// The output seam: what each output adds to the run, and that a secondary output fails alone.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { createLog } from '../log.js';
import { composeOutputs, withOnfailIgnore, type OutputRun, type RunEnd, type TranscodeOutput } from './outputs.js';

const log = createLog({ level: 'silent', name: 'test' });
const run = { continuing: false } as OutputRun;

function output(name: string, o: Partial<TranscodeOutput> = {}): TranscodeOutput & { ends: RunEnd[] } {
  const ends: RunEnd[] = [];
  return { name, ends, prepare: async () => undefined, runEnded: async (how) => void ends.push(how), status: () => ({ state: 'running' }), ...o };
}

t.test('each output adds slaves, taps, pipes and outputs of its own; pipes are numbered from fd 3 in order', async (t) => {
  const seen: string[] = [];
  const primary = output('hls', { prepare: async (_run, ff) => ff.slave('[f=hls]/m/720p/index.m3u8') });
  const thumb = output('thumb', {
    prepare: async (_run, ff) => {
      const label = ff.tap('thumb');
      ff.output(['-map', `[${label}]`, '-f', 'image2pipe', ff.pipe((s) => s.on('data', (d: Buffer) => seen.push(`thumb:${d}`)))]);
    },
  });
  const packager = output('ll', { prepare: async (_run, ff) => ff.slave(`[f=mp4]${ff.pipe((s) => s.on('data', (d: Buffer) => seen.push(`ll:${d}`)))}`) });
  const outputs = composeOutputs({ primary, others: [thumb, packager], log, note: async () => undefined });
  const adds = await outputs.prepare(run);
  t.same(adds, {
    slaves: ['[f=hls]/m/720p/index.m3u8', '[onfail=ignore:f=mp4]pipe:4'],
    taps: ['tap_thumb'],
    outputs: [['-map', '[tap_thumb]', '-f', 'image2pipe', 'pipe:3']],
    pipeCount: 2,
  });
  const pipes = [new PassThrough(), new PassThrough()];
  outputs.attachPipes(pipes);
  pipes[0]!.write('a');
  pipes[1]!.write('b');
  await new Promise((r) => setImmediate(r));
  t.same(seen, ['thumb:a', 'll:b']);
});

t.test('a secondary output that fails is left out, told to the broadcaster, and its pipe drained; the others go on', async (t) => {
  const notes: string[] = [];
  let ticks = 0;
  const primary = output('hls', { tick: async () => void (ticks += 1) });
  const broken = output('recording', {
    prepare: async (_run, ff) => void ff.pipe(() => undefined), // reads nothing: the seam must drain it
    tick: async () => {
      throw new Error('disk full');
    },
  });
  const outputs = composeOutputs({ primary, others: [broken], log, note: async (_level, message) => void notes.push(message) });
  const adds = await outputs.prepare(run);
  const pipe = new PassThrough({ highWaterMark: 16 });
  outputs.attachPipes([pipe]);
  await outputs.tick();
  await outputs.tick();
  t.equal(ticks, 2, 'the primary ticks on');
  t.same(notes, ['The recording output stopped (disk full); the live stream goes on.'], 'told once');
  t.same(outputs.statuses(), [{ name: 'hls', status: { state: 'running' } }, { name: 'recording', status: { state: 'failed', detail: 'disk full' } }]);
  // a drained pipe never fills up (ffmpeg would block writing to it)
  for (let i = 0; i < 100; i++) pipe.write(Buffer.alloc(1024));
  await new Promise((r) => setImmediate(r));
  t.ok(pipe.writableLength < 1024 * 4, 'nothing piles up in the pipe');
  await outputs.runEnded('ended');
  t.same(primary.ends, ['ended']);
  t.same(broken.ends, [], 'a failed output sits the rest of the run out');
  t.equal(adds.pipeCount, 1);
  // the next run tries it again
  await outputs.prepare(run);
  await outputs.runEnded('restart');
  t.same(broken.ends, ['restart']);
});

t.test('an output that fails while preparing adds nothing to the run', async (t) => {
  const half = output('relay', {
    prepare: async (_run, ff) => {
      ff.slave('[f=flv]pipe:3');
      throw new Error('no destination');
    },
  });
  const outputs = composeOutputs({ primary: output('hls'), others: [half], log, note: async () => undefined });
  t.same(await outputs.prepare(run), { slaves: [], taps: [], outputs: [], pipeCount: 0 });
});

t.test('the primary output failing fails the run', async (t) => {
  const primary = output('hls', {
    prepare: async () => {
      throw new Error('read-only media dir');
    },
  });
  const outputs = composeOutputs({ primary, others: [], log, note: async () => undefined });
  await t.rejects(outputs.prepare(run), /read-only media dir/);
});

t.test("tee's onfail=ignore goes first in a slave's options", async (t) => {
  t.equal(withOnfailIgnore('[f=hls:hls_time=2]/x/index.m3u8'), '[onfail=ignore:f=hls:hls_time=2]/x/index.m3u8');
  t.equal(withOnfailIgnore('/x/out.ts'), '[onfail=ignore]/x/out.ts');
});

t.test('in a real ffmpeg: a secondary tee slave that cannot write leaves the others writing, and a pipe reaches its reader', async (t) => {
  const { mkdtempSync, statSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { spawnFfmpeg } = await import('./ffmpeg.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-outputs-'));
  let pipeBytes = 0;
  const outputs = composeOutputs({
    primary: output('main', { prepare: async (_run, ff) => ff.slave(`[f=mpegts]${dir}/main.ts`) }),
    others: [
      output('broken', { prepare: async (_run, ff) => ff.slave('[f=mpegts]/nonexistent-dir/x.ts') }),
      output('pipe', {
        prepare: async (_run, ff) => {
          ff.output(['-map', `[${ff.tap('probe')}]`, '-c:v', 'mjpeg', '-f', 'image2pipe', ff.pipe((s) => s.on('data', (d: Buffer) => (pipeBytes += d.length)))]);
        },
      }),
    ],
    log,
    note: async () => undefined,
  });
  const adds = await outputs.prepare(run);
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x180:rate=10:duration=2',
    '-filter_complex', `[0:v:0]split=${adds.taps.length + 1}[v]${adds.taps.map((l) => `[${l}]`).join('')}`, '-map', '[v]', '-c:v', 'libx264', '-preset', 'ultrafast',
    '-f', 'tee', adds.slaves.join('|'), ...adds.outputs.flat()];
  const ff = spawnFfmpeg({ args, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, pipes: adds.pipeCount });
  outputs.attachPipes(ff.pipes);
  const exit = await ff.exited;
  t.equal(exit.code, 0, `ffmpeg finished: ${exit.stderrTail.join(' / ')}`);
  t.ok(statSync(path.join(dir, 'main.ts')).size > 1000, 'the primary slave wrote its file');
  t.ok(pipeBytes > 1000, 'the JPEGs reached the reader');
});
