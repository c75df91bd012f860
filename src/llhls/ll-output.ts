// The primary output of a low-latency stream (transcode/outputs.ts): the same ladder, one ffmpeg,
// each rendition as fragmented MP4 into a pipe (ladder.ts llSlaves); the worker's packager cuts
// it into LL-HLS parts and segments written under MEDIA_DIR/hls/<playbackId>/<rendition>/, where
// nginx serves them, and publishes each new media playlist to the playlist origin (feed.ts). The
// master playlist is a file, as in standard mode, written once every rendition has a segment —
// then the stream is live.
//
// One LL session per publish: its constants (TARGETDURATION, PART-TARGET, PART-HOLD-BACK) are
// fixed at the first run and never change (Apple's players stop for good when they do), file names
// carry the publish's tag, and an ffmpeg restart or a reconnect continues the same playlists after
// EXT-X-DISCONTINUITY with a new init section.
import path from 'node:path';
import type { Log } from '../log.js';
import type { WorkerMetrics } from '../metrics.js';
import type { LiveTranscodeJob } from '../streams/types.js';
import { prepareOutputDir, streamOutputDir, writeMasterPlaylist } from '../transcode/hls-output.js';
import { llSlaves, segmentTagFor } from '../transcode/ladder.js';
import type { OutputRun, OutputStatus, TranscodeOutput } from '../transcode/outputs.js';
import type { LlFeed } from './feed-publisher.js';
import { renderMasterPlaylist } from './master-playlist.js';
import { LlSession } from './session.js';
import { RenditionWriter } from './rendition-writer.js';

const PRUNE_EVERY_TICKS = 2; // ~3 s: a part is 30–150 KB, five a second per rung

export function llHlsOutput(o: { job: LiveTranscodeJob; mediaDir: string; feed: LlFeed; log: Log; metrics?: WorkerMetrics }): TranscodeOutput {
  const outDir = streamOutputDir(o.mediaDir, o.job.playbackId);
  const presentation = segmentTagFor(o.job.publishSessionId);
  let session: LlSession | null = null;
  const writers = new Map<string, RenditionWriter>();
  /** The renditions of the current run, tallest first. */
  let current: RenditionWriter[] = [];
  /** Segments per rendition when the run started: ready once each has one more. */
  let atStart = new Map<string, number>();
  let master: string | null = null;
  let state: OutputStatus['state'] = 'idle';
  let detail: string | undefined;
  let ticks = 0;

  const others = (me: string) => () =>
    current
      .filter((w) => w.name !== me)
      .flatMap((w) => {
        const report = writers.get(w.name)?.report();
        return report ? [{ uri: `../${w.name}/index.m3u8`, ...report }] : [];
      });

  async function writeMaster(): Promise<void> {
    const text = renderMasterPlaylist(current.map((w) => ({ uri: `${w.name}/index.m3u8`, stats: w.measured() })));
    if (text === null || text === master) return;
    await writeMasterPlaylist(outDir, text);
    master = text;
  }

  return {
    name: 'llhls',
    async prepare(run: OutputRun, ff) {
      const ll = run.plan.lowLatency;
      if (!ll) throw new Error('The low-latency output needs a low-latency ladder plan.');
      const names = run.plan.renditions.map((r) => r.name);
      if (!session) {
        // a fresh publish starts from an empty directory: no standard-mode playlist may shadow the
        // origin (nginx serves a media playlist from disk when there is one), no old part linger
        await prepareOutputDir(outDir, names, false);
        session = new LlSession({ prefix: presentation, targetDuration: ll.segmentSeconds, nominalPart: ll.partSeconds });
        o.log.info({ targetDuration: session.constants.targetDuration, partTarget: session.constants.partTarget }, 'Low-latency session started.');
      } else {
        await prepareOutputDir(outDir, names, true);
        if (ll.segmentSeconds > session.constants.targetDuration) {
          // TARGETDURATION may never grow within a session: segments run long instead (players cope)
          o.log.warn({ targetDuration: session.constants.targetDuration, wanted: ll.segmentSeconds }, 'The new source’s keyframes are further apart than the session’s target duration allows.');
        }
      }
      const s = session;
      current = names.map((name) => {
        let w = writers.get(name);
        if (!w) {
          w = new RenditionWriter({
            packager: s.rendition(name),
            dir: path.join(outDir, name),
            playbackId: o.job.playbackId,
            presentation,
            feed: o.feed,
            others: others(name),
            log: o.log,
            events: {
              segment: (rendition) => o.metrics?.segmentsWritten.inc({ rendition }),
              broken: (rendition, message) => {
                detail = `${rendition}: ${message}`;
                o.log.error({ rendition, err: message }, 'A low-latency rendition’s stream is not what ffmpeg should write; it waits for the next run.');
              },
            },
          });
          writers.set(name, w);
        }
        return w;
      });
      atStart = new Map(current.map((w) => [w.name, w.segmentCount]));
      const pipes = current.map((w) => ff.pipe((stream) => w.read(stream)));
      for (const slave of llSlaves({ plan: run.plan, pipes })) ff.slave(slave);
      state = 'running';
      detail = undefined;
    },
    async ready(signal) {
      // every rendition of this run has a segment of its own: then the master, then live
      while (!signal.aborted) {
        if (current.length > 0 && current.every((w) => w.segmentCount > (atStart.get(w.name) ?? 0))) {
          await writeMaster();
          return true;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    },
    async tick() {
      // the master follows what was measured (BANDWIDTH is the peak segment rate so far)
      if (master !== null) await writeMaster();
      if (++ticks % PRUNE_EVERY_TICKS === 0) for (const w of writers.values()) await w.prune();
    },
    async runEnded(how) {
      // the pipes' ends close each run themselves; wait for what is queued
      await Promise.all([...writers.values()].map((w) => w.idle()));
      if (how === 'ended' || how === 'failed') {
        await Promise.all([...writers.values()].map((w) => w.end()));
        state = 'stopped';
      }
    },
    status: () => (detail ? { state, detail } : { state }),
  };
}

