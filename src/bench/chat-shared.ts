// Shared by bench:chat's orchestrator (chat.ts) and its client processes (chat-client.ts): the
// commands they exchange over IPC, the tag every measured chat message carries in its text, and
// the latency histogram each client process fills and the orchestrator merges.

/** Which server a side talks to: our api nodes (token, session:join, chat:send) or the bare peer. */
export type Mode = 'ours' | 'bare';

export interface Target {
  /** Index of the socket among all clients (0 … clients-1). */
  idx: number;
  /** Which server process this socket talks to (0 or 1 for ours, always 0 for bare). */
  node: number;
  url: string;
  /** Ours: the bearer token, sent in the upgrade's Authorization header (never in the URL). */
  token?: string;
  /** Index among the senders, or -1 for a receiver only. */
  sender: number;
}

export type Command =
  | { cmd: 'connect'; targets: Target[]; senders: number; concurrency: number }
  | { cmd: 'join'; sessionId: string; concurrency: number }
  | { cmd: 'reset'; run: number; perSender: number }
  | { cmd: 'send'; mode: Mode; run: number; sessionId: string; startUs: number; perSender: number; rate: number }
  | { cmd: 'progress' }
  | { cmd: 'stats' }
  | { cmd: 'close' };

export interface ConnectReply {
  open: number;
  /** Refused upgrades by HTTP status, and connection errors by code. */
  refused: Record<string, number>;
  failed: Record<string, number>;
  ms: number;
}

export interface JoinReply {
  joined: number;
  errors: Record<string, number>;
  firstError: string | null;
  timeouts: number;
}

export interface SendReply {
  sent: number;
  /** How late the sends went out against their schedule (a busy client process delays them). */
  lagMaxMs: number;
  lagMeanMs: number;
  wallSeconds: number;
}

export interface ProgressReply {
  received: number;
  acks: number;
  /** Errors answering our chat:send frames by their id, and errors without an id (a frame refused unread). */
  sendErrors: number;
  errorsWithoutId: number;
}

export interface StatsReply {
  sockets: number;
  openNow: number;
  /** Measured chat:message frames (this run's tag) received, in all and per server node. */
  received: number;
  receivedByNode: number[];
  perSocketMin: number;
  perSocketMax: number;
  /** How many sockets received `n` messages in the order hashed `h`, keyed `n:h`: the complete ones should share one. */
  orders: Record<string, number>;
  /** A message from one sender arriving after a later one from the same sender, or twice. */
  outOfOrder: number;
  hist: number[];
  latCount: number;
  latSumUs: number;
  latMaxUs: number;
  /** chat:message frames of another run (warm-up stragglers) and ones without our tag. */
  staleChat: number;
  untaggedChat: number;
  /** Which messages (sender × perSender + seq) this process saw delivered, acked, refused by id. */
  seen: number[];
  acked: number[];
  refused: number[];
  /** Acks and errors answering our chat:send frames (senders only). */
  acks: number;
  sendErrors: Record<string, number>;
  firstSendError: string | null;
  /** Errors without an id, other server frames by type, closes by code (1006: no close frame). */
  otherErrors: Record<string, number>;
  otherFrames: Record<string, number>;
  closes: Record<string, number>;
  /** When the first close happened, seconds after the run's start (null: none). */
  firstCloseAfterS: number | null;
  cpuSeconds: number;
  rssBytes: number;
}

export type Reply = ConnectReply | JoinReply | SendReply | ProgressReply | StatsReply | Record<string, never>;

// ---- the tag ---------------------------------------------------------------------------------

/** Every measured message's text starts with this, then `<run>.<sender>.<seq>.<sentAtUs> `. */
export const TEXT_MARK = 'bench ';
export const TEXT_FILLER = 'hello everyone, this is a chat message of a typical length';

export const chatText = (run: number, sender: number, seq: number, sentAtUs: number) => `${TEXT_MARK}${run}.${sender}.${seq}.${sentAtUs} ${TEXT_FILLER}`;

/** Microseconds on CLOCK_MONOTONIC (libuv's hrtime): one clock for every process on the machine. */
export const nowUs = () => Math.round(Number(process.hrtime.bigint()) / 1000);

// ---- latency histogram (microseconds) --------------------------------------------------------
// 10 µs steps below 10 ms, 1 ms steps below 1 s, 100 ms steps below 120 s, then one last bucket.

export const HIST_BUCKETS = 1000 + 990 + 1190 + 1;

export function bucketOf(us: number): number {
  if (us < 10_000) return us < 0 ? 0 : Math.floor(us / 10);
  if (us < 1_000_000) return 1000 + Math.floor((us - 10_000) / 1000);
  if (us < 120_000_000) return 1990 + Math.floor((us - 1_000_000) / 100_000);
  return HIST_BUCKETS - 1;
}

/** The upper edge of a bucket in µs (a percentile is reported as at most this). */
export function bucketTopUs(b: number): number {
  if (b < 1000) return (b + 1) * 10;
  if (b < 1990) return 10_000 + (b - 1000 + 1) * 1000;
  if (b < HIST_BUCKETS - 1) return 1_000_000 + (b - 1990 + 1) * 100_000;
  return Infinity;
}

export function mergeHist(into: number[], from: number[]): void {
  for (let i = 0; i < HIST_BUCKETS; i++) into[i] = (into[i] ?? 0) + (from[i] ?? 0);
}

/** The q-quantile (0 < q ≤ 1) in ms, at bucket resolution; null without samples. */
export function percentileMs(hist: number[], q: number): number | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let b = 0; b < hist.length; b++) {
    seen += hist[b] ?? 0;
    if (seen >= rank) return bucketTopUs(b) / 1000;
  }
  return null;
}
