// bench:transcode's recording half: the recording output's work while the ladder runs (the
// segment mirror of src/recordings/, ticking every 1.5 s as the worker's heartbeat does, in this
// process), and the finalise after it (VOD playlists, MP4 remux, poster), measured apart.
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { finaliseFiles } from '../recordings/finalise.js';
import { openMirror } from '../recordings/mirror.js';
import type { RecordedRendition } from '../recordings/playlist.js';
import { processTreeCpuSeconds } from './common.js';

const TICK_MS = 1_500; // the live job's heartbeat

/** Bytes this process has handed to write() so far (/proc/self/io wchar): the playlists it rewrote. */
async function writtenBytes(): Promise<number> {
  const text = await readFile('/proc/self/io', 'utf8').catch(() => '');
  return Number(/^wchar:\s*(\d+)/m.exec(text)?.[1] ?? 0);
}

const ownCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** This process's own CPU and writes over a stretch (every variant measures it: the recorded one adds the mirror to it). */
export async function ownUsage(): Promise<() => Promise<{ cpuSeconds: number; writtenBytes: number }>> {
  const cpu = ownCpu();
  const written = await writtenBytes();
  return async () => ({ cpuSeconds: ownCpu() - cpu, writtenBytes: (await writtenBytes()) - written });
}

export interface RunningMirror {
  /** The last sync after ffmpeg ended; answers the bytes the recording keeps (all rungs). */
  stop(): Promise<{ keptBytes: number; errors: number }>;
}

export async function startMirror(o: { liveDir: string; dir: string; renditions: string[] }): Promise<RunningMirror> {
  await rm(o.dir, { recursive: true, force: true });
  const mirror = await openMirror(o);
  let errors = 0;
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => mirror.sync()).catch(() => errors++);
  }, TICK_MS);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await mirror.sync().catch(() => errors++);
      return { keptBytes: mirror.sizeBytes(), errors };
    },
  };
}

/** The finalise of the recording in `dir`: CPU of this process and its ffmpeg children, and what it wrote. */
export async function measureFinalise(o: { dir: string; renditions: RecordedRendition[]; childEnv: Record<string, string> }) {
  const before = (await processTreeCpuSeconds(process.pid)) ?? 0;
  const started = performance.now();
  const done = await finaliseFiles({ childEnv: o.childEnv }, { dir: o.dir, renditions: o.renditions });
  const cpuSeconds = ((await processTreeCpuSeconds(process.pid)) ?? 0) - before;
  const mp4Bytes = (await stat(path.join(o.dir, 'recording.mp4'))).size;
  return { cpuSeconds, wallSeconds: (performance.now() - started) / 1000, durationSeconds: done.durationSeconds, sizeBytes: done.sizeBytes, mp4Bytes };
}
