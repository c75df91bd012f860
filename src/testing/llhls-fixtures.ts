// Test support for src/llhls: the recorded fMP4 fixtures (src/llhls/fixtures/record.sh), feeding
// them to a packager in random-sized chunks as a pipe would, and a small media-playlist reader.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { APP_ROOT } from '../paths.js';
import type { RenditionPackager } from '../llhls/packager.js';
import type { LlFile } from '../llhls/types.js';

export const FIXTURES = {
  /** 1 s GOP, no B-frames: the copy rung and a transcoded rung of the same source */
  gop1Copy: 'gop1-copy.mp4',
  gop1X264: 'gop1-x264.mp4',
  /** 2 s GOP with 2 B-frames: the copy rung is one frame off the transcoded one (notes §2.2) */
  gop2bfCopy: 'gop2bf-copy.mp4',
  gop2bfX264: 'gop2bf-x264.mp4',
} as const;

export function fixturePath(name: string): string {
  return path.join(APP_ROOT, 'src', 'llhls', 'fixtures', name);
}

export function readFixture(name: string): Buffer {
  return readFileSync(fixturePath(name));
}

/** A small seeded PRNG (mulberry32), so a failing chunking can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random chunk sizes from 1 byte to `max` (8 KiB), now and then 64 KiB, as a pipe delivers them. */
export function randomChunks(bytes: Buffer, random: () => number, max = 8192): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const r = random();
    const size = r < 0.1 ? 1 + Math.floor(random() * 16) : r < 0.95 ? 1 + Math.floor(random() * max) : 65536;
    out.push(bytes.subarray(pos, pos + size));
    pos += size;
  }
  return out;
}

export interface Fed {
  files: LlFile[];
  /** nowMs after the last chunk */
  nowMs: number;
}

/**
 * Feeds one run of a fixture to a packager in random chunks; the clock advances `msPerChunk` per
 * chunk. Fails the test (throws) on an unexpected media error.
 */
export function feedRun(options: { packager: RenditionPackager; bytes: Buffer; seed: number; nowMs: number; msPerChunk?: number; endRun?: boolean }): Fed {
  const random = seededRandom(options.seed);
  const files: LlFile[] = [];
  let nowMs = options.nowMs;
  for (const chunk of randomChunks(options.bytes, random)) {
    nowMs += options.msPerChunk ?? 2;
    const r = options.packager.push(chunk, nowMs);
    if (r.error) throw r.error;
    files.push(...r.files);
  }
  if (options.endRun !== false) {
    const r = options.packager.endRun(nowMs);
    if (r.error) throw r.error;
    files.push(...r.files);
  }
  return { files, nowMs };
}

export interface ParsedPart {
  duration: number;
  uri: string;
  independent: boolean;
}
export interface ParsedSegment {
  msn: number;
  uri: string | null; // null for the open segment (parts only)
  duration: number | null;
  parts: ParsedPart[];
  pdt: string | null;
  map: string | null;
  discontinuity: boolean;
}
export interface ParsedPlaylist {
  tags: Map<string, string[]>;
  segments: ParsedSegment[];
}

/** Reads a media playlist the way a player does: tags before a URI belong to that segment. */
export function parseMediaPlaylist(text: string): ParsedPlaylist {
  const tags = new Map<string, string[]>();
  const segments: ParsedSegment[] = [];
  let msn = 0;
  let map: string | null = null;
  let cur: ParsedSegment | null = null;
  const current = (): ParsedSegment => (cur ??= { msn: msn++, uri: null, duration: null, parts: [], pdt: null, map, discontinuity: false });
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (!line.startsWith('#')) {
      const seg = current();
      seg.uri = line;
      segments.push(seg);
      cur = null;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    tags.set(name, [...(tags.get(name) ?? []), value]);
    if (name === '#EXT-X-MEDIA-SEQUENCE') msn = Number(value);
    else if (name === '#EXT-X-MAP') {
      map = attr(value, 'URI');
      current().map = map;
    }
    else if (name === '#EXT-X-DISCONTINUITY') current().discontinuity = true;
    else if (name === '#EXT-X-PROGRAM-DATE-TIME') current().pdt = value;
    else if (name === '#EXTINF') current().duration = Number(value.split(',')[0]);
    else if (name === '#EXT-X-PART') {
      current().parts.push({ duration: Number(attr(value, 'DURATION')), uri: attr(value, 'URI') ?? '', independent: attr(value, 'INDEPENDENT') === 'YES' });
    }
  }
  if (cur) segments.push(cur);
  return { tags, segments };
}

/** One attribute of an attribute list, quotes removed. */
export function attr(list: string, name: string): string | null {
  const re = new RegExp(`(?:^|,)${name}=("[^"]*"|[^,]*)`);
  const m = re.exec(list);
  if (!m) return null;
  return m[1]!.replace(/^"|"$/g, '');
}

export interface LadderStep {
  rendition: number;
  nowMs: number;
  files: LlFile[];
}

/**
 * Feeds several renditions of one session chunk by chunk, interleaved as ffmpeg's pipes would be
 * (a random rendition gets its next chunk), calling `onStep` after every chunk that yielded files.
 */
export function feedLadder(options: {
  packagers: RenditionPackager[];
  inputs: Buffer[];
  seed: number;
  nowMs: number;
  msPerChunk?: number;
  maxChunk?: number;
  onStep?: (step: LadderStep) => void;
}): { files: LlFile[][]; nowMs: number } {
  const random = seededRandom(options.seed);
  const queues = options.inputs.map((bytes) => randomChunks(bytes, random, options.maxChunk));
  const files: LlFile[][] = options.inputs.map(() => []);
  let nowMs = options.nowMs;
  for (;;) {
    const live = queues.map((q, i) => (q.length > 0 ? i : -1)).filter((i) => i >= 0);
    if (live.length === 0) break;
    const i = live[Math.floor(random() * live.length)]!;
    nowMs += options.msPerChunk ?? 2;
    const r = options.packagers[i]!.push(queues[i]!.shift()!, nowMs);
    if (r.error) throw r.error;
    files[i]!.push(...r.files);
    if (r.files.length > 0) options.onStep?.({ rendition: i, nowMs, files: r.files });
  }
  options.packagers.forEach((p, i) => {
    const r = p.endRun(nowMs);
    if (r.error) throw r.error;
    files[i]!.push(...r.files);
    if (r.files.length > 0) options.onStep?.({ rendition: i, nowMs, files: r.files });
  });
  return { files, nowMs };
}
