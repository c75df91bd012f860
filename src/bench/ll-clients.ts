// bench:llorigin's viewers, run in child processes (BENCH_CLIENT_PROCS) so that a burst of answers
// (every viewer of a rung is released by the same part) is not queued behind one event loop. Each
// viewer loops like hls.js with CAN-BLOCK-RELOAD: a blocking playlist request for the next part,
// then the newest part it names. Times are absolute (performance.timeOrigin + now(), one clock on
// one machine), so the parent can hold them against when its feed wrote each part.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { PREVIEW_SESSION_ID, signPlaybackToken } from '../analytics/playback.js';

export interface ClientRun {
  base: string;
  playbackId: string;
  secret: string;
  rungs: string[];
  /** Index of the first viewer (rung = index mod rungs) and how many. */
  from: number;
  count: number;
  /** Absolute ms: count from `measureFrom`, stop at `until`. */
  measureFrom: number;
  until: number;
}
export interface ClientResult {
  /** [rung index, msn, part, answered at (absolute ms)] of each playlist answer held for exactly the part asked. */
  samples: [number, number, number, number][];
  playlists: number;
  parts: number;
  errors: Record<string, number>;
}

export const absNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The newest part of a media playlist: its segment's msn and index, and its URI. */
export function newestPart(text: string): { msn: number; part: number; uri: string } | null {
  const seq = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text);
  if (!seq) return null;
  const lines = text.split('\n');
  const infs = lines.map((l) => l.startsWith('#EXTINF:'));
  const parts = lines.slice(infs.lastIndexOf(true) + 1).filter((l) => l.startsWith('#EXT-X-PART:'));
  const uri = /URI="([^"]+)"/.exec(parts.at(-1) ?? '')?.[1];
  if (!uri) return null;
  return { msn: Number(seq[1]) + infs.filter(Boolean).length, part: parts.length - 1, uri };
}

export async function runClients(o: ClientRun): Promise<ClientResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const get = (url: string) =>
    new Promise<{ status: number; body: Buffer; at: number } | null>((resolve) => {
      const req = http.get(url, { agent, headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const at = absNow(); // the answer's head arrived: the origin has answered
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), at }));
        res.on('error', () => resolve(null));
      });
      req.on('error', () => resolve(null));
    });
  const out: ClientResult = { samples: [], playlists: 0, parts: 0, errors: {} };
  const measuring = () => absNow() >= o.measureFrom;
  const fail = (what: string) => void (measuring() && (out.errors[what] = (out.errors[what] ?? 0) + 1));
  const viewer = async (i: number) => {
    const r = i % o.rungs.length;
    const token = signPlaybackToken(o.secret, { playbackId: o.playbackId, sessionId: PREVIEW_SESSION_ID, userId: randomUUID() });
    const url = (file: string) => `${o.base}/hls/${o.playbackId}/v/${token}/${o.rungs[r]}/${file}`;
    await sleep(Math.random() * 1000);
    let newest: ReturnType<typeof newestPart> = null;
    while (absNow() < o.until) {
      const want = newest ? { msn: newest.msn, part: newest.part + 1 } : null;
      const a = await get(url(want ? `index.m3u8?_HLS_msn=${want.msn}&_HLS_part=${want.part}` : 'index.m3u8'));
      if (!a || a.status !== 200) {
        fail(`playlist ${a?.status ?? 'network'}`);
        newest = null;
        await sleep(200);
        continue;
      }
      let text: string;
      try {
        text = gunzipSync(a.body).toString();
      } catch {
        text = a.body.toString();
      }
      const now = newestPart(text);
      if (!now) {
        fail('playlist unparsable');
        continue;
      }
      if (measuring()) out.playlists++;
      // held for exactly the part it asked (or, past a segment's last part, the next segment's first)
      const heldFor = want && ((now.msn === want.msn && now.part === want.part) || (now.msn === want.msn + 1 && now.part === 0));
      if (heldFor && measuring()) out.samples.push([r, now.msn, now.part, a.at]);
      newest = now;
      const p = await get(url(now.uri));
      if (!p || p.status !== 200) fail(`part ${p?.status ?? 'network'}`);
      else if (measuring()) out.parts++;
    }
  };
  await Promise.all(Array.from({ length: o.count }, (_, k) => viewer(o.from + k)));
  agent.destroy();
  return out;
}

// as a child process (ll-origin.ts starts it with an IPC channel): one `run`, answered with its result
if (process.argv[1]?.endsWith('ll-clients.js') && process.send) {
  process.on('message', (m: { rid: number; command: ClientRun }) => {
    runClients(m.command).then(
      (reply) => process.send!({ rid: m.rid, reply }),
      (e: unknown) => process.send!({ rid: m.rid, error: e instanceof Error ? e.message : String(e) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
