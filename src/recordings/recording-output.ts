// The recording as an output of the live transcode (transcode/outputs.ts): it keeps the ladder's
// own MPEG-TS segments as an HLS muxer lists them (recorder.ts) — re-encoding nothing — and, like
// every output but the primary, fails alone: the live stream never waits for it.
//
// In standard mode those are the live ladder's segments. A low-latency stream's live output is
// fragmented MP4 cut by the packager, so the recording adds HLS muxers of its own to the run's tee
// (the same encoded streams, muxed once more: no encode, a little CPU) writing into a staging
// directory outside what nginx serves, and keeps those: the recordings, their finalise and replay
// stay one format whatever the live mode.
import path from 'node:path';
import { rm } from 'node:fs/promises';
import type { LiveTranscodeJob } from '../streams/types.js';
import { prepareOutputDir, pruneSegments, streamOutputDir } from '../transcode/hls-output.js';
import { hlsSlaves, segmentTagFor } from '../transcode/ladder.js';
import type { OutputStatus, TranscodeOutput } from '../transcode/outputs.js';
import { createRecorder, type RecorderDeps } from './recorder.js';

/** Where a low-latency stream's recording takes its segments from (not under MEDIA_DIR/hls: nginx never serves it). */
export function recordingSourceDir(mediaDir: string, playbackId: string): string {
  return path.join(mediaDir, 'll-recording', playbackId);
}

export function recordingOutput(o: { job: LiveTranscodeJob; mediaDir: string; deps: RecorderDeps }): TranscodeOutput {
  const staging = o.job.lowLatency ? recordingSourceDir(o.mediaDir, o.job.playbackId) : null;
  const recorder = createRecorder(o.deps, {
    streamId: o.job.streamId,
    publishSessionId: o.job.publishSessionId,
    liveDir: staging ?? streamOutputDir(o.mediaDir, o.job.playbackId),
  });
  let ticks = 0;
  let keepBehind = 3; // the profile's deleteThresholdSegments, as the live ladder keeps
  return {
    name: 'recording',
    async prepare(run, ff) {
      if (staging) {
        keepBehind = run.profile.deleteThresholdSegments;
        // continue the staging playlists after a restart, a takeover or a reconnect (the recorder
        // takes the segments it lacks, after a discontinuity), as the live ladder does
        await prepareOutputDir(staging, run.plan.renditions.map((r) => r.name), run.continuing);
        for (const slave of hlsSlaves({ profile: run.profile, plan: run.plan, outDir: staging, resume: run.continuing, segmentTag: segmentTagFor(run.job.publishSessionId) })) ff.slave(slave);
      }
      // the rungs as the replay's master lists them (what a player needs, nothing of the encoder)
      await recorder.start(run.plan.renditions.map((r) => ({ name: r.name, width: r.width, height: r.height, bandwidth: r.bandwidth, codecs: r.codecs, frameRate: r.frameRate })));
    },
    async tick() {
      await recorder.tick();
      // the staging muxers delete their own old segments; what a crashed run left is pruned here
      if (staging && ++ticks % 4 === 0) await pruneSegments(staging, keepBehind);
    },
    async runEnded(how) {
      // a restart, a handover or a reconnect within the grace: the same recording goes on
      if (how === 'ended' || how === 'failed') {
        await recorder.end();
        // the recording has what it kept (hard links or copies): the staging files go
        if (staging) await rm(staging, { recursive: true, force: true });
      } else await recorder.pause();
    },
    status(): OutputStatus {
      const s = recorder.status();
      const state = s.state === 'recording' ? 'running' : s.state;
      return s.reason ? { state, detail: s.reason } : { state };
    },
  };
}
