// The datagrams that carry nginx's viewer lines from the forwarder (forwarder.ts) to the API
// nodes (collector.ts), authenticated one by one. A datagram is
//   <32 bytes: HMAC-SHA256 of everything after them>
//   onair-viewers/2 <forwarder instance> <sequence> <sent at, ms>\n
//   <line>\n<line>\n…
// The key is derived from PLAYBACK_SECRET with a label of its own (so it is neither the secret
// nor anything else derived from it). The instance is random per forwarder start and the
// sequence counts its datagrams from 1, so a receiver can tell a repeat: it keeps, per instance,
// the sequence numbers seen within a sliding window, and refuses a datagram seen before, one
// sent more than MAX_AGE_MS away from its own clock, or one sent before it started (it cannot
// know what it saw then). The nginx host and the API nodes share a clock (one box, or NTP):
// a skew of seconds is fine, a minute is not. Nothing from a refused datagram is used.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const MAGIC = 'onair-viewers/2';
const MAC_BYTES = 32;
export const MAX_DATAGRAM = 8 * 1024;
/** A datagram sent longer ago (or ahead) than this is refused. */
export const MAX_AGE_MS = 60_000;
/** Sequence numbers remembered per forwarder instance (a bit each). */
const SEQ_WINDOW = 65_536;
/** Forwarder instances remembered at once (each restart of a forwarder is a new one). */
const MAX_INSTANCES = 256;
const HEADER = /^onair-viewers\/2 ([0-9a-f]{16}) ([1-9][0-9]{0,14}) ([0-9]{13})\n/;

/** The key both ends derive from PLAYBACK_SECRET. */
export function viewerDatagramKey(playbackSecret: string): Buffer {
  return createHmac('sha256', playbackSecret).update('onair viewer-line datagrams v2').digest();
}

const mac = (key: Buffer, data: Buffer) => createHmac('sha256', key).update(data).digest();

/** The sending side: splits lines into datagrams of at most MAX_DATAGRAM bytes, each sealed with the next sequence number. */
export function createDatagramSealer(o: { key: Buffer; now?: () => number }): { instance: string; seal(lines: string[]): Buffer[] } {
  const instance = randomBytes(8).toString('hex');
  const now = o.now ?? Date.now;
  let seq = 0;
  const room = MAX_DATAGRAM - MAC_BYTES - `${MAGIC} ${instance} ${'9'.repeat(15)} ${'9'.repeat(13)}\n`.length;
  const seal = (body: string) => {
    const text = Buffer.from(`${MAGIC} ${instance} ${++seq} ${Math.round(now())}\n${body}`, 'latin1');
    return Buffer.concat([mac(o.key, text), text]);
  };
  return {
    instance,
    seal(lines) {
      const out: Buffer[] = [];
      let body = '';
      for (const line of lines) {
        if (line.length + 1 > room) continue; // (nginx's lines are ~130 bytes)
        if (body.length + line.length + 1 > room) {
          out.push(seal(body));
          body = '';
        }
        body += line + '\n';
      }
      if (body) out.push(seal(body));
      return out;
    },
  };
}

export interface OpenedDatagram {
  instance: string;
  seq: number;
  sentAt: number;
  body: string;
}

/** A datagram's header and lines when its HMAC is right, else null. */
export function openDatagram(data: Buffer, key: Buffer): OpenedDatagram | null {
  if (data.length <= MAC_BYTES || data.length > MAX_DATAGRAM) return null;
  const text = data.subarray(MAC_BYTES);
  if (!timingSafeEqual(mac(key, text), data.subarray(0, MAC_BYTES))) return null;
  const s = text.toString('latin1');
  const m = HEADER.exec(s);
  if (!m) return null;
  return { instance: m[1]!, seq: Number(m[2]), sentAt: Number(m[3]), body: s.slice(m[0].length) };
}

export type Admission = 'accepted' | 'replayed' | 'stale';

/** The receiving side's memory of what it took: refuses repeats and old datagrams. */
export function createReplayGuard(o: { now: () => number }) {
  const startedAt = o.now();
  const seen = new Map<string, { highest: number; bits: Uint8Array; lastAt: number }>();
  // bit s % SEQ_WINDOW of the window says whether sequence number s was seen
  const has = (bits: Uint8Array, s: number) => ((bits[(s % SEQ_WINDOW) >> 3] ?? 0) & (1 << s % 8)) !== 0;
  const mark = (bits: Uint8Array, s: number, on: boolean) => {
    const i = (s % SEQ_WINDOW) >> 3;
    bits[i] = on ? (bits[i] ?? 0) | (1 << s % 8) : (bits[i] ?? 0) & ~(1 << s % 8);
  };

  function forget(now: number) {
    for (const [id, w] of seen) if (now - w.lastAt > 2 * MAX_AGE_MS) seen.delete(id); // its datagrams are stale by now
  }

  return {
    admit(d: Pick<OpenedDatagram, 'instance' | 'seq' | 'sentAt'>): Admission {
      const now = o.now();
      if (Math.abs(now - d.sentAt) > MAX_AGE_MS || d.sentAt < startedAt) return 'stale';
      let w = seen.get(d.instance);
      if (!w) {
        if (seen.size >= MAX_INSTANCES) forget(now);
        if (seen.size >= MAX_INSTANCES) return 'stale'; // never forget a live instance: that would let its datagrams repeat
        w = { highest: 0, bits: new Uint8Array(SEQ_WINDOW / 8), lastAt: now };
        seen.set(d.instance, w);
      }
      if (d.seq <= w.highest - SEQ_WINDOW) return 'stale';
      if (d.seq > w.highest) {
        // slide the window: forget the numbers it moves past (they were seen a window ago)
        if (d.seq - w.highest >= SEQ_WINDOW) w.bits.fill(0);
        else for (let s = w.highest + 1; s <= d.seq; s++) mark(w.bits, s, false);
        w.highest = d.seq;
      } else if (has(w.bits, d.seq)) {
        return 'replayed';
      }
      mark(w.bits, d.seq, true);
      w.lastAt = now;
      return 'accepted';
    },
    /** Forwarder instances remembered now. */
    get instances() {
      return seen.size;
    },
  };
}
