// The recording as an output of the live transcode (transcode/outputs.ts): it adds nothing to
// ffmpeg — it keeps the ladder's own segments as the HLS output lists them (recorder.ts) — and,
// like every output but the ladder, fails alone: the live stream never waits for it.
import type { LiveTranscodeJob } from '../streams/types.js';
import { streamOutputDir } from '../transcode/hls-output.js';
import type { OutputStatus, TranscodeOutput } from '../transcode/outputs.js';
import { createRecorder, type RecorderDeps } from './recorder.js';

export function recordingOutput(o: { job: LiveTranscodeJob; mediaDir: string; deps: RecorderDeps }): TranscodeOutput {
  const recorder = createRecorder(o.deps, {
    streamId: o.job.streamId,
    publishSessionId: o.job.publishSessionId,
    liveDir: streamOutputDir(o.mediaDir, o.job.playbackId),
  });
  return {
    name: 'recording',
    async prepare(run) {
      // the rungs as the replay's master lists them (what a player needs, nothing of the encoder)
      await recorder.start(run.plan.renditions.map((r) => ({ name: r.name, width: r.width, height: r.height, bandwidth: r.bandwidth, codecs: r.codecs, frameRate: r.frameRate })));
    },
    tick: () => recorder.tick(),
    async runEnded(how) {
      // a restart, a handover or a reconnect within the grace: the same recording goes on
      if (how === 'ended' || how === 'failed') await recorder.end();
      else await recorder.pause();
    },
    status(): OutputStatus {
      const s = recorder.status();
      const state = s.state === 'recording' ? 'running' : s.state;
      return s.reason ? { state, detail: s.reason } : { state };
    },
  };
}
