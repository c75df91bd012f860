// The output seam of a transcode: everything a live stream's one ffmpeg run produces goes through
// a TranscodeOutput. The HLS ladder is the primary output (hls-ladder-output.ts): the stream is
// live when it is ready and fails when it fails. Every other output — a recording, a thumbnail,
// later a relay or the LL-HLS packager — fails alone: its error is logged and told in the
// publish log, it is left out of the rest of the run, and ffmpeg, the ladder and the other
// outputs go on. The live job composes the outputs a stream has (composeOutputs) and knows none
// of them by name.
//
// What an output may do, each through one door:
//   - add to the run's one ffmpeg: a tee slave over the encoded ladder (`slave`), a copy of the
//     decoded picture (`tap`) for an output of its own (`output`), a pipe ffmpeg writes to and the
//     worker reads (`pipe`) — the seam always drains a pipe, so a slow or broken reader never
//     stalls ffmpeg;
//   - own processes of its own (a relay), started in `prepare` and stopped in `runEnded`;
//   - learn how each run ended (`runEnded`): a restart or a handover (the stream goes on
//     elsewhere or again), the publisher reconnecting (a grace: keep going), or the end.
import type { Readable } from 'node:stream';
import type { Log } from '../log.js';
import type { LiveTranscodeJob } from '../streams/types.js';
import type { LadderPlan } from './ladder.js';
import type { Profile } from './profiles.js';

/** What a run is: the same for every output of it. */
export interface OutputRun {
  job: LiveTranscodeJob;
  profile: Profile;
  plan: LadderPlan;
  /** ffmpeg has run for this publish before (a restart, a takeover, a reconnect): continue, don't start over. */
  continuing: boolean;
  log: Log;
}

/** The doors into the run's one ffmpeg (collected before it starts). */
export interface FfmpegSlots {
  /** A tee slave over the encoded ladder (video stream i = rendition i of the plan, audio `a`). */
  slave(spec: string): void;
  /** A filter label carrying a copy of the decoded picture (the smallest encoded rung), for `output`. */
  tap(name: string): string;
  /** A pipe ffmpeg writes to: answers its URL (`pipe:N`); `read` gets the stream when ffmpeg starts. */
  pipe(read: (stream: Readable) => void): string;
  /** An ffmpeg output of the output's own (options + target), after the ladder's. */
  output(args: string[]): void;
}

/** How a run ended, for the outputs: the first three mean the stream goes on. */
export type RunEnd = 'restart' | 'handover' | 'reconnecting' | 'ended' | 'failed';

export interface OutputStatus {
  state: 'idle' | 'running' | 'stopped' | 'failed';
  /** In words, for the publish log and the API (never a secret). */
  detail?: string;
}

export interface TranscodeOutput {
  /** Short, stable: in logs, metrics and the publish log. */
  readonly name: string;
  /** Before every ffmpeg run of the stream: get ready, and ask for what the run must add. */
  prepare(run: OutputRun, ff: FfmpegSlots): Promise<void>;
  /** While ffmpeg runs: resolves true once there is something to watch (the stream goes live when the primary is ready); false on abort. */
  ready?(signal: AbortSignal): Promise<boolean>;
  /** Every heartbeat (~1.5 s) while ffmpeg runs: copy, prune, count. */
  tick?(): Promise<void>;
  /** The run ended, and how the stream goes on. */
  runEnded?(how: RunEnd): Promise<void>;
  status(): OutputStatus;
}

/** What the composed outputs add to the run's ffmpeg. */
export interface RunAdditions {
  slaves: string[];
  taps: string[];
  outputs: string[][];
  /** Pipe readers in fd order (fd 3 on): hand spawnFfmpeg's `pipes` to `attachPipes`. */
  pipeCount: number;
}

export interface ComposedOutputs {
  /** Prepares every output for a run; an output that fails here sits the run out (the primary's failure throws). */
  prepare(run: OutputRun): Promise<RunAdditions>;
  /** Hands ffmpeg's pipes to their readers; each is always drained. */
  attachPipes(pipes: Readable[]): void;
  /** Resolves when the primary is ready (false on abort); the others' readiness is theirs. */
  ready(signal: AbortSignal): Promise<boolean>;
  tick(): Promise<void>;
  runEnded(how: RunEnd): Promise<void>;
  statuses(): { name: string; status: OutputStatus }[];
}

/**
 * Composes the primary output with the others. `note` tells the broadcaster (publish log) when
 * an output fails; it never throws.
 */
export function composeOutputs(o: { primary: TranscodeOutput; others: TranscodeOutput[]; log: Log; note: (level: 'warn' | 'error', message: string) => Promise<void> }): ComposedOutputs {
  const all = [o.primary, ...o.others];
  // the outputs taking part in the current run (an output that failed sits the rest of it out)
  let active = new Set<TranscodeOutput>(all);
  const failures = new Map<TranscodeOutput, string>();
  let readers: { output: TranscodeOutput; read: (stream: Readable) => void }[] = [];
  /** The pipes handed to each output this run: drained by the seam once the output fails. */
  const streams = new Map<TranscodeOutput, Readable[]>();
  const drain = (stream: Readable) => {
    stream.unpipe();
    stream.removeAllListeners('data');
    stream.resume();
  };

  const fail = (output: TranscodeOutput, err: unknown) => {
    if (output === o.primary) throw err;
    if (!active.has(output)) return;
    active.delete(output);
    for (const stream of streams.get(output) ?? []) drain(stream);
    const message = err instanceof Error ? err.message : String(err);
    failures.set(output, message);
    o.log.warn({ output: output.name, err }, `The ${output.name} output failed; the stream goes on without it.`);
    void o.note('warn', `The ${output.name} output stopped (${message}); the live stream goes on.`);
  };
  /** Runs `fn` for every active output; a failing non-primary output is dropped. */
  const each = async (fn: (output: TranscodeOutput) => Promise<void> | undefined) => {
    for (const output of [...active]) {
      try {
        await fn(output);
      } catch (err) {
        fail(output, err);
      }
    }
  };

  return {
    async prepare(run) {
      const adds: RunAdditions = { slaves: [], taps: [], outputs: [], pipeCount: 0 };
      readers = [];
      streams.clear();
      active = new Set(all);
      failures.clear();
      for (const output of all) {
        // collected apart, so that an output failing halfway through adds nothing
        const mine: RunAdditions = { slaves: [], taps: [], outputs: [], pipeCount: 0 };
        const myReaders: typeof readers = [];
        const slots: FfmpegSlots = {
          // a secondary output's slave must not take ffmpeg down with it when it fails
          slave: (spec) => void mine.slaves.push(output === o.primary ? spec : withOnfailIgnore(spec)),
          tap: (name) => {
            const label = `tap_${name}`;
            mine.taps.push(label);
            return label;
          },
          pipe: (read) => {
            myReaders.push({ output, read });
            return `pipe:${3 + readers.length + myReaders.length - 1}`;
          },
          output: (args) => void mine.outputs.push(args),
        };
        try {
          await output.prepare(run, slots);
        } catch (err) {
          fail(output, err);
          continue;
        }
        adds.slaves.push(...mine.slaves);
        adds.taps.push(...mine.taps);
        adds.outputs.push(...mine.outputs);
        readers.push(...myReaders);
      }
      adds.pipeCount = readers.length;
      return adds;
    },
    attachPipes(pipes) {
      pipes.forEach((stream, i) => {
        const reader = readers[i];
        // drained whatever the reader does: a pipe nobody reads would block ffmpeg's whole run
        stream.on('error', () => undefined);
        if (!reader || !active.has(reader.output)) return void stream.resume();
        streams.set(reader.output, [...(streams.get(reader.output) ?? []), stream]);
        try {
          reader.read(stream);
        } catch (err) {
          fail(reader.output, err);
        }
      });
    },
    async ready(signal) {
      return o.primary.ready ? o.primary.ready(signal) : true;
    },
    async tick() {
      await each((output) => output.tick?.());
    },
    async runEnded(how) {
      await each((output) => output.runEnded?.(how));
    },
    statuses() {
      return all.map((output) => ({
        name: output.name,
        status: failures.has(output) ? { state: 'failed' as const, detail: failures.get(output) } : output.status(),
      }));
    },
  };
}

/** Adds tee's `onfail=ignore` to a slave spec: that slave's failure leaves the others writing. */
export function withOnfailIgnore(spec: string): string {
  if (spec.startsWith('[')) return `[onfail=ignore:${spec.slice(1)}`;
  return `[onfail=ignore]${spec}`;
}
