// Checks for relay tests against a live stack: a media playlist watched as a player would (a
// skipped segment, a discontinuity, an ENDLIST or a stall shows), what an nginx-rtmp destination
// saw of a publisher, how much it recorded, and every process's command line.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseSegments } from '../recordings/playlist.js';
import { getText } from './harness.js';
import type { RtmpDestination } from './rtmp-destination.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls a media playlist every second as a player does and keeps every media sequence number it
 * saw with its segment: a segment the HLS output skipped, a discontinuity (a restarted ffmpeg),
 * an ENDLIST or a stall shows up in what `stop()` answers.
 */
export function watchPlaylist(url: string) {
  const seen = new Map<number, string>();
  const problems: string[] = [];
  let lastNewAt = Date.now();
  let longestStallMs = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const r = await getText(url).catch(() => null);
      if (r?.status === 200) {
        if (r.text.includes('#EXT-X-ENDLIST')) problems.push('the playlist ended');
        if (r.text.includes('#EXT-X-DISCONTINUITY')) problems.push('a discontinuity (ffmpeg restarted)');
        const first = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(r.text)?.[1] ?? -1);
        parseSegments(r.text).forEach((seg, i) => {
          const prev = seen.get(first + i);
          if (prev === undefined) {
            seen.set(first + i, seg.name);
            longestStallMs = Math.max(longestStallMs, Date.now() - lastNewAt);
            lastNewAt = Date.now();
          } else if (prev !== seg.name) problems.push(`sequence ${first + i} was ${prev}, then ${seg.name}`);
        });
      } else problems.push(`the playlist answered ${r?.status ?? 'nothing'}`);
      await sleep(1_000);
    }
  })();
  return {
    segments: () => seen.size,
    async stop() {
      stopped = true;
      await loop;
      longestStallMs = Math.max(longestStallMs, Date.now() - lastNewAt);
      const numbers = [...seen.keys()].sort((a, b) => a - b);
      const missing = numbers.length === 0 ? [] : Array.from({ length: numbers.at(-1)! - numbers[0]! + 1 }, (_, i) => numbers[0]! + i).filter((n) => !seen.has(n));
      return { segments: numbers.length, missing, problems: [...new Set(problems)], longestStallMs };
    },
  };
}

/** Every process's command line on this machine (as any local user may read them). */
export function commandLines(): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
      } catch {
        return ''; // gone meanwhile
      }
    });
}

export const fileSize = (f: string) => (existsSync(f) ? statSync(f).size : 0);

/** The nginx-rtmp connection (`*N`) that published the name, and whether nginx saw it disconnect. */
export function publishConnection(dest: RtmpDestination, name: string): { id: string | null; disconnected: boolean } {
  const text = readFileSync(path.join(dest.dir, 'error.log'), 'utf8');
  const ids = [...text.matchAll(new RegExp(`\\*(\\d+) publish: name='${name}'`, 'g'))].map((m) => m[1]!);
  const id = ids.at(-1) ?? null;
  return { id, disconnected: id !== null && new RegExp(`\\*${id} disconnect`).test(text) };
}

/** A relay destination as the API answers it. */
export interface DestinationView {
  id: string;
  name: string;
  status: 'idle' | 'connecting' | 'live' | 'retrying' | 'failed';
  bytesSent: number;
  bitrateKbps: number | null;
  connectedAt: string | null;
  retries: number;
  lastError: string | null;
}

/** A stream's relay destinations as the API lists them, by id (`get` asks the API: a stack's, or a recording wrapper of it). */
export async function listDestinations(get: (path: string) => Promise<{ status: number; body: any }>, streamId: string): Promise<Map<string, DestinationView>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await get(`/streams/${streamId}/destinations`);
  if (r.status !== 200) throw new Error(`list destinations: ${r.status} ${JSON.stringify(r.body)}`);
  return new Map((r.body.items as DestinationView[]).map((d) => [d.id, d]));
}
