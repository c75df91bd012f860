// One rendition of a low-latency stream in the worker: its ffmpeg pipe's bytes go through its
// packager, in order, one chunk at a time; the files it yields are written atomically into the
// rendition's directory (nginx serves them from there), and only then is the new playlist
// rendered and published. The pipe is always read at once — ffmpeg blocks every rung when one
// pipe fills (64 KiB, ~85 ms of a 6 Mb/s rung) — and the work queues behind it.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Log } from '../log.js';
import type { LlFeed } from './feed-publisher.js';
import { renderMediaPlaylist, type OtherRendition } from './media-playlist.js';
import type { PushResult, RenditionPackager } from './packager.js';
import type { RenditionStats } from './rendition-stats.js';
import type { LlFile, RenditionReport } from './types.js';

export interface WriterEvents {
  /** A segment was completed (counted by the worker's metrics). */
  segment?: (rendition: string) => void;
  /** The rendition's stream is not fragmented MP4 as ffmpeg should write it: it yields nothing more this run. */
  broken?: (rendition: string, message: string) => void;
}

export class RenditionWriter {
  private chain: Promise<void> = Promise.resolve();
  private queuedBytes = 0;
  private segments = 0;
  private broken = false;

  constructor(
    private readonly o: {
      packager: RenditionPackager;
      dir: string;
      playbackId: string;
      presentation: string;
      feed: LlFeed;
      /** The other renditions' positions, for EXT-X-RENDITION-REPORT. */
      others: () => OtherRendition[];
      log: Log;
      events?: WriterEvents;
    },
  ) {}

  get name(): string {
    return this.o.packager.name;
  }

  /** Complete segments written since this writer began (the run's readiness). */
  get segmentCount(): number {
    return this.segments;
  }

  /** LAST-MSN / LAST-PART for the other renditions' reports. */
  report(): RenditionReport | null {
    return this.o.packager.report();
  }

  /** What the master playlist says of this rendition. */
  measured(): RenditionStats {
    return this.o.packager.measured();
  }

  /** Reads one ffmpeg run's pipe; its end closes the run (the next run starts after a discontinuity). */
  read(stream: Readable): void {
    this.broken = false;
    stream.on('data', (chunk: Buffer) => {
      this.queuedBytes += chunk.length;
      this.enqueue(() => {
        this.queuedBytes -= chunk.length;
        return this.apply(this.o.packager.push(chunk, Date.now()));
      });
    });
    stream.once('end', () => this.endRun());
    stream.once('error', () => this.endRun());
  }

  /** The run's pipe closed (or the run ended): the open segment completes as it is. */
  endRun(): Promise<void> {
    return this.enqueue(() => this.apply(this.o.packager.endRun(Date.now())));
  }

  /** The publish is over: the final playlist (EXT-X-ENDLIST, no preload hint). */
  end(): Promise<void> {
    return this.enqueue(() => this.apply(this.o.packager.end(Date.now()), true));
  }

  /** Waits for everything queued so far. */
  idle(): Promise<void> {
    return this.chain;
  }

  /** Deletes what left the playlist long enough ago (three target durations). */
  prune(): Promise<void> {
    return this.enqueue(async () => {
      for (const name of this.o.packager.expired(Date.now())) await rm(path.join(this.o.dir, name), { force: true });
    });
  }

  /** Bytes read from the pipe and not yet packaged (a slow disk shows here first). */
  get backlogBytes(): number {
    return this.queuedBytes;
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    // one step at a time, in order; a failing step is logged and the next goes on
    this.chain = this.chain.then(step).catch((err: unknown) => {
      this.o.log.error({ err, rendition: this.name }, 'A low-latency rendition could not be written.');
    });
    return this.chain;
  }

  /** Writes the files a step yielded, then publishes the playlist if it changed (or it is the end). */
  private async apply(result: PushResult, final = false): Promise<void> {
    if (result.error && !this.broken) {
      this.broken = true;
      this.o.events?.broken?.(this.name, result.error.message);
    }
    let newest: Extract<LlFile, { kind: 'part' }> | null = null;
    for (const file of result.files) {
      await writeAtomic(this.o.dir, file.name, file.bytes);
      if (file.kind === 'part') newest = file;
      if (file.kind === 'segment') {
        this.segments += 1;
        this.o.events?.segment?.(this.name);
      }
    }
    if (result.files.length === 0 && !final) return; // the playlist did not move
    const state = this.o.packager.state();
    const report = this.o.packager.report();
    const partName = newest?.name ?? lastPartName(state.segments);
    if (!report || !partName) return; // nothing listed yet
    await this.o.feed.publish({
      v: 1,
      playbackId: this.o.playbackId,
      rendition: this.name,
      presentation: this.o.presentation,
      msn: report.lastMsn,
      part: report.lastPart,
      partName,
      hint: state.ended ? null : state.nextPartName,
      ended: state.ended,
      targetDuration: state.constants.targetDuration,
      partTarget: state.constants.partTarget,
      playlist: renderMediaPlaylist({ state, others: this.o.others() }),
      at: Date.now(),
    });
  }

}

function lastPartName(segments: { parts: { name: string }[] }[]): string | null {
  for (let i = segments.length - 1; i >= 0; i--) {
    const part = segments[i]!.parts.at(-1);
    if (part) return part.name;
  }
  return null;
}

async function writeAtomic(dir: string, name: string, bytes: Buffer): Promise<void> {
  const file = path.join(dir, name);
  const tmp = `${file}.tmp`;
  try {
    await writeFile(tmp, bytes, { mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // the directory went (a fresh publish cleared it while a late step ran): make it again
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(tmp, bytes, { mode: 0o644 });
  }
  await rename(tmp, file);
}
