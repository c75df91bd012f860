// The primary output of a live transcode: the adaptive HLS ladder nginx serves from
// <media>/hls/<playbackId>/ (one HLS muxer per rendition as tee slaves of the one encoded
// output; the directory itself is hls-output.ts's). The stream is live when every rendition has
// a segment (then the master playlist appears); a run that ends for good gets EXT-X-ENDLIST.
import { readdir } from 'node:fs/promises';
import type { WorkerMetrics } from '../metrics.js';
import type { LiveTranscodeJob } from '../streams/types.js';
import {
  finishPlaylists,
  hasSegments,
  listedSegments,
  pruneSegments,
  prepareOutputDir,
  streamOutputDir,
  waitForFirstSegments,
  writeMasterPlaylist,
} from './hls-output.js';
import { hlsSlaves, masterPlaylist, segmentTagFor, type LadderPlan } from './ladder.js';
import type { OutputRun, OutputStatus, TranscodeOutput } from './outputs.js';

const PRUNE_EVERY_TICKS = 4; // ~6 s

export interface HlsLadderOutput extends TranscodeOutput {
  /** Whether the current run continues the playlists already there (after EXT-X-DISCONTINUITY). */
  readonly resumed: boolean;
}

export function hlsLadderOutput(o: { job: LiveTranscodeJob; mediaDir: string; metrics?: WorkerMetrics }): HlsLadderOutput {
  const outDir = streamOutputDir(o.mediaDir, o.job.playbackId);
  let plan: LadderPlan | null = null;
  let keepBehind = 0;
  let resumed = false;
  let ticks = 0;
  let state: OutputStatus['state'] = 'idle';
  /** Segments counted per rendition (media sequence + listed): the segments-written counter's base. */
  const seen = new Map<string, number>();
  /** Segments per rendition when the run started: ready once each has one more (this run's own). */
  const atStart = new Map<string, number>();

  async function tally(): Promise<void> {
    if (!o.metrics || !plan) return;
    for (const { name } of plan.renditions) {
      const n = await listedSegments(outDir, name);
      const before = seen.get(name) ?? 0;
      if (n === null || n <= before) continue;
      o.metrics.segmentsWritten.inc({ rendition: name }, n - before);
      seen.set(name, n);
    }
  }

  return {
    name: 'hls',
    get resumed() {
      return resumed;
    },
    async prepare(run: OutputRun, ff) {
      plan = run.plan;
      keepBehind = run.profile.deleteThresholdSegments;
      const names = plan.renditions.map((r) => r.name);
      // continue the playlists only when this publish wrote some: a restart, a takeover, a
      // reconnect (whose new source may drop or add rungs: any rung written before counts)
      resumed = run.continuing && (await anyHasSegments(outDir));
      await prepareOutputDir(outDir, names, resumed);
      // whatever the playlists hold when a run starts was counted by the run that wrote it
      seen.clear();
      atStart.clear();
      for (const name of names) {
        const n = (await listedSegments(outDir, name)) ?? 0;
        seen.set(name, n);
        atStart.set(name, n);
      }
      for (const slave of hlsSlaves({ profile: run.profile, plan, outDir, resume: resumed, segmentTag: segmentTagFor(run.job.publishSessionId) })) ff.slave(slave);
      state = 'running';
    },
    async ready(signal) {
      if (!plan) return false;
      // a continued run is ready with its own first segments (the stream is live again only then)
      const ready = await waitForFirstSegments(outDir, plan.renditions.map((r) => r.name), signal, 40, atStart);
      // only now the master playlist appears (or is rewritten for a new ladder after a reconnect at
      // another resolution): a player never finds a master whose variants 404
      if (ready) await writeMasterPlaylist(outDir, masterPlaylist(plan));
      return ready;
    },
    async tick() {
      await tally();
      if (++ticks % PRUNE_EVERY_TICKS === 0) await pruneSegments(outDir, keepBehind);
    },
    async runEnded(how) {
      await tally(); // the last segments, before ENDLIST or a restart
      if (how === 'ended' || how === 'failed') {
        await finishPlaylists(outDir);
        state = 'stopped';
      }
    },
    status: () => ({ state }),
  };
}

/** Whether some rendition of the stream's directory has segments (whatever ladder wrote them). */
async function anyHasSegments(outDir: string): Promise<boolean> {
  const entries = await readdir(outDir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory() && (await hasSegments(outDir, e.name))) return true;
  return false;
}
