// The blocking playlist reload rules of draft-pantos-hls-rfc8216bis §6.2.5.2, as pure functions:
// what a request's delivery directives ask for, whether they are acceptable, and whether a given
// playlist state satisfies them. The origin (origin.ts) holds a request until `satisfies` is true.

/** What the origin knows of a rendition's newest playlist (from its newest `llhls.part` message). */
export interface Newest {
  /** Media sequence number of the segment the newest part belongs to. */
  msn: number;
  /** Index of the newest part within that segment. */
  part: number;
  partTarget: number;
  ended: boolean;
}

/** `_HLS_msn` / `_HLS_part` of a request; both absent = an ordinary reload. `_HLS_skip` is ignored (no CAN-SKIP-UNTIL). */
export interface Directives {
  msn: number | null;
  part: number | null;
}

export type Refusal = { status: 400; reason: string };

const WHOLE = /^(0|[1-9][0-9]{0,14})$/;

/** Reads the directives from a query string (without the '?'); a malformed one is refused with 400. */
export function parseDirectives(query: string): Directives | Refusal {
  const params = new URLSearchParams(query);
  const read = (name: string): number | null | Refusal => {
    const all = params.getAll(name);
    if (all.length === 0) return null;
    if (all.length > 1 || !WHOLE.test(all[0]!)) return { status: 400, reason: `${name} must be given once, as a whole number.` };
    return Number(all[0]);
  };
  const msn = read('_HLS_msn');
  if (typeof msn === 'object' && msn !== null) return msn;
  const part = read('_HLS_part');
  if (typeof part === 'object' && part !== null) return part;
  if (part !== null && msn === null) return { status: 400, reason: '_HLS_part needs _HLS_msn.' };
  return { msn, part };
}

/**
 * The Advance Part Limit (§6.2.5.2): how far past the newest part `_HLS_part` may reach — three
 * divided by the part target when that is under a second, else three.
 */
export const advancePartLimit = (partTarget: number) => (partTarget < 1 ? 3 / partTarget : 3);

/**
 * Refuses directives that ask too far ahead (SHOULD 400): a segment more than two past the newest,
 * or a part more than the Advance Part Limit past the newest part. For a part of a later segment
 * than the newest, its index alone is held against the limit (how many parts the newest segment
 * will still get is not known; this errs on the side of holding). Once ended, nothing is refused.
 */
export function checkDirectives(newest: Newest, d: Directives): Refusal | null {
  if (newest.ended || d.msn === null) return null;
  if (d.msn > newest.msn + 2) return { status: 400, reason: `_HLS_msn ${d.msn} is more than two segments past the newest (${newest.msn}).` };
  if (d.part === null || d.msn < newest.msn) return null;
  const ahead = d.msn === newest.msn ? d.part - newest.part : d.part;
  if (ahead > advancePartLimit(newest.partTarget)) return { status: 400, reason: `_HLS_part ${d.part} is beyond the advance part limit.` };
  return null;
}

/**
 * Whether a playlist whose newest part is (newest.msn, newest.part) answers the request: segment M
 * complete (M < newest.msn) for `_HLS_msn` alone; part N of segment M or later for both — which
 * also covers N past the last part of M (the next segment's part 0 then satisfies it, as the RFC's
 * overflow rule says). No directives, or an ended playlist: at once.
 */
export function satisfies(newest: Newest, d: Directives): boolean {
  if (newest.ended || d.msn === null) return true;
  if (d.msn < newest.msn) return true;
  if (d.part === null) return false;
  return d.msn === newest.msn && d.part <= newest.part;
}
