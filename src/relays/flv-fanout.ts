// One FLV source (ffmpeg's `-c copy -f flv pipe:N`) → every relay publisher of a stream. The
// source is read in flowing mode and never paused: each publisher has its own bounded queue,
// so a slow destination can not hold back ffmpeg (and with it the HLS ladder) or the others.
import type { Readable } from 'node:stream';
import { FlvFormatError, FlvReader, TAG_SCRIPT, TAG_VIDEO, type FlvTag } from './flv-reader.js';

export interface TagSink {
  offer(tag: FlvTag): void;
}

export class FlvFanout {
  private readonly reader = new FlvReader();
  private readonly sinks = new Set<TagSink>();
  /** The latest metadata and sequence headers: a publisher added mid-stream needs them first. */
  private readonly headers = new Map<string, FlvTag>();
  private broken: string | null = null;
  bytesIn = 0;
  tagsIn = 0;
  /** The newest tag's timestamp (ms): how far the source has got. */
  lastTimestamp = 0;

  /** Why the source stopped being readable as FLV, if it did. */
  get error(): string | null {
    return this.broken;
  }

  add(sink: TagSink): void {
    this.sinks.add(sink);
    for (const k of ['meta', 'video', 'audio']) {
      const h = this.headers.get(k);
      if (h) sink.offer(h);
    }
  }

  remove(sink: TagSink): void {
    this.sinks.delete(sink);
  }

  /** Reads a stream to its end; resolves then (or on its error). */
  consume(source: Readable): Promise<void> {
    return new Promise((resolve) => {
      source.on('data', (d: Buffer) => this.push(d));
      source.once('end', resolve);
      source.once('close', resolve);
      source.once('error', resolve);
    });
  }

  push(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    // a source that is not FLV is still drained (ffmpeg must never block on its pipe), not parsed
    if (this.broken) return;
    let tags: FlvTag[];
    try {
      tags = this.reader.push(chunk);
    } catch (err) {
      if (!(err instanceof FlvFormatError)) throw err;
      this.broken = err.message;
      return;
    }
    for (const t of tags) {
      this.tagsIn += 1;
      this.lastTimestamp = t.timestamp;
      if (t.type === TAG_SCRIPT || t.sequenceHeader) this.headers.set(t.type === TAG_SCRIPT ? 'meta' : t.type === TAG_VIDEO ? 'video' : 'audio', t);
      for (const s of this.sinks) s.offer(t);
    }
  }
}
