// Reads the JPEGs ffmpeg writes to a pipe and keeps the newest one on disk, renamed into place so
// nginx serves a whole picture or the previous one, never half of one. It never stops reading:
// ffmpeg blocks when a pipe it writes fills up, and with it every rendition of the ladder, so a
// slow or failing disk costs pictures (only the newest waits), never the stream.
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Log } from '../log.js';
import { JpegSplitter } from './jpeg-splitter.js';

/** A thumbnail is small (a 360p picture at mjpeg -q:v 5 is ~20–40 KB): anything this large is broken. */
const MAX_PICTURE_BYTES = 2 * 1024 * 1024;
/** A failing disk is told once, then at most this often. */
const ERROR_LOG_EVERY_MS = 60_000;

export interface ThumbnailWriterStatus {
  written: number;
  lastWrittenAt: Date | null;
  failures: number;
  lastError: string | null;
}

export interface ThumbnailWriter {
  status(): ThumbnailWriterStatus;
  /** Resolves once the input has ended and the last write is done (or failed). */
  readonly done: Promise<void>;
  /** Stops writing (pictures still arriving are read and dropped) and waits for a write in progress. */
  close(): Promise<void>;
}

export function startThumbnailWriter(o: { input: Readable; file: string; log: Log; onWritten?: () => void }): ThumbnailWriter {
  const splitter = new JpegSplitter(MAX_PICTURE_BYTES);
  const state: ThumbnailWriterStatus = { written: 0, lastWrittenAt: null, failures: 0, lastError: null };
  let pending: Buffer | null = null; // the newest picture not written yet; older ones are dropped
  let writing: Promise<void> | null = null;
  let closed = false;
  let lastErrorLogAt = 0;

  const writeNewest = async () => {
    while (pending && !closed) {
      const picture = pending;
      pending = null;
      const tmp = `${o.file}.${randomBytes(4).toString('hex')}.tmp`; // nginx never serves *.tmp
      try {
        await writeFile(tmp, picture, { mode: 0o644 });
        await rename(tmp, o.file);
        state.written += 1;
        state.lastWrittenAt = new Date();
        o.onWritten?.();
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined);
        state.failures += 1;
        state.lastError = (err as NodeJS.ErrnoException).code ?? 'write failed';
        if (Date.now() - lastErrorLogAt >= ERROR_LOG_EVERY_MS) {
          lastErrorLogAt = Date.now();
          o.log.warn({ err, failures: state.failures }, 'Could not write the stream’s thumbnail; the stream goes on without it.');
        }
      }
    }
  };
  const kick = () => {
    if (writing || !pending || closed) return;
    writing = writeNewest().finally(() => {
      writing = null;
      kick(); // a picture that arrived during the last write of the loop
    });
  };

  o.input.on('data', (chunk: Buffer) => {
    if (closed) return; // still read: a pipe nobody reads would stall ffmpeg
    const pictures = splitter.push(chunk);
    if (pictures.length > 0) {
      pending = pictures[pictures.length - 1]!;
      kick();
    }
  });
  const ended = new Promise<void>((resolve) => {
    o.input.once('close', resolve);
    o.input.once('end', resolve);
    o.input.once('error', (err) => {
      o.log.debug({ err }, 'The thumbnail pipe broke.');
      resolve();
    });
  });
  const settle = async () => {
    while (writing) await writing;
  };
  const done = ended.then(settle);
  return {
    status: () => ({ ...state }),
    done,
    async close() {
      closed = true;
      pending = null;
      await settle();
    },
  };
}

/** Removes a stream's thumbnail (its broadcast ended): a list shows no picture of something not on air. */
export async function removeThumbnail(file: string): Promise<void> {
  await rm(file, { force: true });
}
