// bench:llorigin's synthetic worker: per rendition, a part file every PART_MS (written atomically
// where nginx serves it, sized for the rung's bitrate), then one `llhls.part` message with the
// whole media playlist (and the last key), as src/llhls/feed.ts says the packager does. It keeps
// when each part's file was written, for the part-written → playlist-answered figure.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LAST_TTL_SECONDS, lastKey, type LlPartMessage } from '../llhls/feed.js';
import type { Bus } from '../redis/bus.js';
import type { Redis } from '../redis/connection.js';

export const PART_MS = 200;
export const PARTS_PER_SEGMENT = 10; // 2 s segments
const PART_TARGET = 0.235;
const WINDOW_SEGMENTS = 7;
const PART_SEGMENTS = 3; // EXT-X-PART lines for the last 3 segments (≥ 3 TD is the RFC's "SHOULD remove after")

export const partName = (msn: number, part: number) => `p${msn}.${part}.m4s`;

interface Rung {
  name: string;
  kbps: number;
  msn: number;
  part: number;
  segments: { msn: number; parts: string[] }[];
}

export function startSyntheticFeed(o: { mediaDir: string; playbackId: string; renditions: { name: string; kbps: number }[]; bus: Bus; redis: Redis; prefix: string }) {
  const writtenAt = new Map<string, number>();
  const rungs: Rung[] = o.renditions.map((r) => ({ ...r, msn: 1, part: -1, segments: [{ msn: 1, parts: [] }] }));
  for (const r of rungs) mkdirSync(path.join(o.mediaDir, 'hls', o.playbackId, r.name), { recursive: true, mode: 0o755 });
  let published = 0;
  let failed = 0;

  const playlistOf = (r: Rung): string => {
    const lines = ['#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-TARGETDURATION:2', `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${(3 * PART_TARGET).toFixed(3)}`, `#EXT-X-PART-INF:PART-TARGET=${PART_TARGET}`, `#EXT-X-MEDIA-SEQUENCE:${r.segments[0]!.msn}`, '#EXT-X-MAP:URI="init.mp4"'];
    r.segments.forEach((s, i) => {
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(Date.now() - (r.segments.length - i) * 2000).toISOString()}`);
      if (i >= r.segments.length - PART_SEGMENTS) s.parts.forEach((p, j) => lines.push(`#EXT-X-PART:DURATION=0.200,URI="${p}"${j === 0 ? ',INDEPENDENT=YES' : ''}`));
      if (i < r.segments.length - 1) lines.push('#EXTINF:2.000,', `s${s.msn}.m4s`);
    });
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${partName(r.msn, r.part + 1)}"`);
    for (const other of rungs) if (other !== r) lines.push(`#EXT-X-RENDITION-REPORT:URI="../${other.name}/index.m3u8",LAST-MSN=${other.msn},LAST-PART=${Math.max(0, other.part)}`);
    return lines.join('\n') + '\n';
  };

  const step = (r: Rung) => {
    if (r.part + 1 >= PARTS_PER_SEGMENT) {
      r.msn++;
      r.part = -1;
      r.segments.push({ msn: r.msn, parts: [] });
      if (r.segments.length > WINDOW_SEGMENTS) {
        const gone = r.segments.shift()!;
        for (const p of gone.parts) rmSync(path.join(o.mediaDir, 'hls', o.playbackId, r.name, p), { force: true });
      }
    }
    r.part++;
    const name = partName(r.msn, r.part);
    const file = path.join(o.mediaDir, 'hls', o.playbackId, r.name, name);
    writeFileSync(file + '.tmp', Buffer.alloc(Math.round((r.kbps * 1000 * PART_MS) / 8000), r.part), { mode: 0o644 });
    renameSync(file + '.tmp', file);
    writtenAt.set(`${r.name}/${r.msn}.${r.part}`, performance.now());
    r.segments.at(-1)!.parts.push(name);
    const msg: LlPartMessage = { v: 1, playbackId: o.playbackId, rendition: r.name, presentation: 'bench', msn: r.msn, part: r.part, partName: name, hint: partName(r.msn, r.part + 1), ended: false, targetDuration: 2, partTarget: PART_TARGET, playlist: playlistOf(r), at: Date.now() };
    void o.bus.publish('llhls.part', msg).then(() => published++, () => failed++);
    void o.redis.set(lastKey(o.prefix, o.playbackId, r.name), JSON.stringify(msg), 'EX', LAST_TTL_SECONDS).catch(() => failed++);
  };

  const timer = setInterval(() => rungs.forEach(step), PART_MS);
  rungs.forEach(step);
  return {
    /** When the file of a rendition's part was written (performance.now()), if it was. */
    writtenAt: (rendition: string, msn: number, part: number) => writtenAt.get(`${rendition}/${msn}.${part}`),
    stats: () => ({ published, failed }),
    stop: () => clearInterval(timer),
  };
}
