// Uploaded files on disk, content-addressed: a file's name is the SHA-256 of its bytes and its
// extension, so the same bytes are stored once, a name never changes what it points at (nginx
// caches them for good), and nothing a client sends (its file name) reaches the file system.
// Written to a temp file in the same directory, synced and renamed: a reader (nginx) sees the
// whole file or none; nginx serves only names of the final shape, never a temp file.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.js';

/** The URL path an uploaded file is served at by nginx (same origin as the pages). */
export const UPLOADS_PREFIX = '/uploads/';
/** Exactly the names storeUpload gives: 64 hex digits and one of the image extensions. */
export const UPLOAD_NAME = /^[0-9a-f]{64}\.(png|jpg|webp|gif)$/;
/** A same-origin URL of an uploaded image, the only relative URL branding takes. */
export const UPLOAD_URL = /^\/uploads\/[0-9a-f]{64}\.(png|jpg|webp|gif)$/;

export interface Stored {
  name: string;
  /** False when the same bytes were already there (nothing written). */
  created: boolean;
}

/** Stores the bytes as <sha256>.<ext> in dir (created if missing); a disk problem is a clear 5xx AppError. */
export async function storeUpload(o: { dir: string; bytes: Buffer; ext: string }): Promise<Stored> {
  const name = `${createHash('sha256').update(o.bytes).digest('hex')}.${o.ext}`;
  if (!UPLOAD_NAME.test(name)) throw new Error(`not an upload extension: ${o.ext}`);
  const final = path.join(o.dir, name);
  if (await isFile(final)) return { name, created: false };
  const temp = path.join(o.dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(o.dir, { recursive: true, mode: 0o755 });
    const fh = await open(temp, 'wx', 0o644);
    try {
      await fh.writeFile(o.bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(temp, 0o644); // nginx's workers (another user when started as root) read it
    await rename(temp, final);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw storageError(err);
  }
  return { name, created: true };
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** A disk failure in words for the uploader (and the operator): no path, no stack. */
function storageError(err: unknown): AppError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new AppError(507, 'insufficient_storage', 'The appliance’s disk is full, so the image was not stored. Free some space (or ask the operator to) and upload it again.');
  }
  return new AppError(500, 'storage_failed', `The image could not be stored on the appliance (${code ?? 'write failed'}). Ask the operator to check that UPLOADS_DIR is writable.`);
}
