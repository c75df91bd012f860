// A client process of bench:chat: holds a share of the WebSocket clients and, in the sender
// process, the senders. Driven by the orchestrator (chat.ts) over IPC.
//
// The sockets speak WebSocket through a minimal client of our own (RFC 6455: handshake, masked
// client frames, unmasked server frames, ping/pong, close), not `ws`: a receive costs a header
// parse and a search for the tag, so thousands of sockets per process can keep up and the clients
// take as little of the machine's CPU from the servers as we can manage. Frames other than
// chat:message (acks, errors, viewer counts) are rare and parsed as JSON.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import {
  bucketOf,
  chatText,
  HIST_BUCKETS,
  nowUs,
  TEXT_MARK,
  type Command,
  type ConnectReply,
  type JoinReply,
  type ProgressReply,
  type SendReply,
  type StatsReply,
  type Target,
} from './chat-shared.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const CHAT_PREFIX = Buffer.from('{"type":"chat:message"');
const TEXT_MARKER = Buffer.from(`"text":"${TEXT_MARK}`);
const CONNECT_TIMEOUT_MS = 30_000;
const JOIN_TIMEOUT_MS = 30_000;

interface Sock {
  t: Target;
  socket: net.Socket;
  open: boolean;
  pending: Buffer | null;
  frag: Buffer[] | null;
  received: number;
  hash: number;
  lastSeq: Int32Array;
  waiters: Map<string, (frame: { type: string; code?: string; message?: string }) => void>;
  closed: Promise<void>;
}

// ---- state -----------------------------------------------------------------------------------

const socks: Sock[] = [];
let senderCount = 0;
let run = 0;
let perSender = 0;
let seen = new Uint8Array(0);
let acked = new Uint8Array(0);
let refused = new Uint8Array(0);
let runStartUs = 0;
let hist = new Array<number>(HIST_BUCKETS).fill(0);
let latCount = 0;
let latSumUs = 0;
let latMaxUs = 0;
let receivedTotal = 0;
let receivedByNode = [0, 0];
let outOfOrder = 0;
let staleChat = 0;
let untaggedChat = 0;
let acks = 0;
let sendErrors: Record<string, number> = {};
let sendErrorCount = 0;
let firstSendError: string | null = null;
let otherErrors: Record<string, number> = {};
let otherFrames: Record<string, number> = {};
let closes: Record<string, number> = {};
let firstCloseUs: number | null = null;
let cpuAtReset = process.cpuUsage();

const bump = (rec: Record<string, number>, key: string) => void (rec[key] = (rec[key] ?? 0) + 1);

// ---- frames out (masked, as a client must) ---------------------------------------------------

function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(0, 2);
    out.writeUInt32BE(len, 6);
  }
  const mask = randomBytes(4);
  mask.copy(out, head);
  const at = head + 4;
  for (let i = 0; i < len; i++) out[at + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

function sendJson(s: Sock, obj: unknown): void {
  if (s.open) s.socket.write(frame(0x1, Buffer.from(JSON.stringify(obj))));
}

// ---- frames in -------------------------------------------------------------------------------

function onClose(s: Sock, code: number): void {
  if (!s.open) return;
  s.open = false;
  bump(closes, String(code));
  firstCloseUs ??= nowUs();
}

function chatMessage(s: Sock, buf: Buffer, start: number, end: number, now: number): void {
  const at = buf.indexOf(TEXT_MARKER, start);
  if (at < 0 || at >= end) {
    untaggedChat++;
    return;
  }
  // <run>.<sender>.<seq>.<sentAtUs><space>
  let p = at + TEXT_MARKER.length;
  const nums = [0, 0, 0, 0];
  for (let k = 0; k < 4; k++) {
    const stop = k < 3 ? 0x2e : 0x20;
    let n = 0;
    let digits = 0;
    for (;;) {
      if (p >= end) return void untaggedChat++;
      const c = buf[p++]!;
      if (c === stop) break;
      if (c < 0x30 || c > 0x39) return void untaggedChat++;
      n = n * 10 + (c - 0x30);
      digits++;
    }
    if (digits === 0) return void untaggedChat++;
    nums[k] = n;
  }
  const [r, sender, seq, sentAt] = nums as [number, number, number, number];
  if (r !== run) return void staleChat++;
  if (sender < senderCount && seq < perSender) seen[sender * perSender + seq] = 1;
  s.received++;
  receivedTotal++;
  receivedByNode[s.t.node] = (receivedByNode[s.t.node] ?? 0) + 1;
  const lat = now - sentAt;
  hist[bucketOf(lat)]!++;
  latCount++;
  latSumUs += lat;
  if (lat > latMaxUs) latMaxUs = lat;
  if (sender < s.lastSeq.length) {
    if (seq <= s.lastSeq[sender]!) outOfOrder++;
    else s.lastSeq[sender] = seq;
  }
  s.hash = (Math.imul(s.hash, 31) + sender * 100_003 + seq) | 0;
}

function jsonFrame(s: Sock, text: string): void {
  let f: { type?: string; id?: string; code?: string; message?: string };
  try {
    f = JSON.parse(text) as typeof f;
  } catch {
    return void bump(otherFrames, 'not-json');
  }
  const type = String(f.type);
  if ((type === 'ack' || type === 'error') && typeof f.id === 'string') {
    const w = s.waiters.get(f.id);
    if (w) {
      s.waiters.delete(f.id);
      return w(f as { type: string });
    }
    if (f.id.startsWith(`m${run}.`)) {
      const [, sender, seq] = f.id.slice(1).split('.').map(Number) as [number, number, number];
      const at = sender < senderCount && seq < perSender ? sender * perSender + seq : -1;
      if (type === 'ack') {
        acks++;
        if (at >= 0) acked[at] = 1;
      } else {
        if (at >= 0) refused[at] = 1;
        sendErrorCount++;
        bump(sendErrors, String(f.code));
        firstSendError ??= `${f.code}: ${f.message}`;
      }
      return;
    }
  }
  if (type === 'error') bump(otherErrors, String(f.code));
  else bump(otherFrames, type);
}

function message(s: Sock, buf: Buffer, start: number, end: number, now: number): void {
  if (end - start > CHAT_PREFIX.length && buf.compare(CHAT_PREFIX, 0, CHAT_PREFIX.length, start, start + CHAT_PREFIX.length) === 0) {
    chatMessage(s, buf, start, end, now);
  } else jsonFrame(s, buf.toString('utf8', start, end));
}

function control(s: Sock, opcode: number, payload: Buffer): void {
  if (opcode === 0x9) s.socket.write(frame(0xa, payload)); // ping → pong
  else if (opcode === 0x8) {
    onClose(s, payload.length >= 2 ? payload.readUInt16BE(0) : 1005);
    s.socket.end(frame(0x8, payload.subarray(0, 2)));
  }
}

function onData(s: Sock, chunk: Buffer): void {
  const buf = s.pending ? Buffer.concat([s.pending, chunk]) : chunk;
  s.pending = null;
  const now = nowUs(); // once per read: every frame in it arrived by now
  const n = buf.length;
  let i = 0;
  while (n - i >= 2) {
    const b0 = buf[i]!;
    const b1 = buf[i + 1]!;
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (n - i < 4) break;
      len = buf.readUInt16BE(i + 2);
      head = 4;
    } else if (len === 127) {
      if (n - i < 10) break;
      len = buf.readUInt32BE(i + 2) * 2 ** 32 + buf.readUInt32BE(i + 6);
      head = 10;
    }
    if (b1 & 0x80) head += 4; // a server never masks; skip the key if one did
    const start = i + head;
    const end = start + len;
    if (end > n) break;
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    if (opcode === 0x1 && fin) message(s, buf, start, end, now);
    else if (opcode === 0x1 || opcode === 0x0) {
      (s.frag ??= []).push(Buffer.from(buf.subarray(start, end)));
      if (fin) {
        const whole = Buffer.concat(s.frag);
        s.frag = null;
        message(s, whole, 0, whole.length, now);
      }
    } else if (opcode >= 0x8) control(s, opcode, Buffer.from(buf.subarray(start, end)));
    else bump(otherFrames, `opcode-${opcode}`);
    i = end;
  }
  if (i < n) s.pending = Buffer.from(buf.subarray(i));
}

// ---- connecting ------------------------------------------------------------------------------

function connect(t: Target): Promise<Sock> {
  return new Promise((resolve, reject) => {
    const u = new URL(t.url);
    const socket = net.connect({ host: u.hostname, port: Number(u.port) });
    socket.setNoDelay(true);
    const key = randomBytes(16).toString('base64');
    const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
    let resolveClosed!: () => void;
    const s: Sock = {
      t,
      socket,
      open: false,
      pending: null,
      frag: null,
      received: 0,
      hash: 0,
      lastSeq: new Int32Array(senderCount).fill(-1),
      waiters: new Map(),
      closed: new Promise<void>((r) => (resolveClosed = r)),
    };
    let head = Buffer.alloc(0);
    let settled = false;
    const fail = (why: Error & { status?: number }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(why);
    };
    const timer = setTimeout(() => fail(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), CONNECT_TIMEOUT_MS);
    socket.on('connect', () => {
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          (t.token ? `Authorization: Bearer ${t.token}\r\n` : '') +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    const onHandshake = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const endAt = head.indexOf('\r\n\r\n');
      if (endAt < 0) return;
      const text = head.toString('latin1', 0, endAt);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (status !== 101) return fail(Object.assign(new Error(`upgrade refused: ${status}`), { status }));
      const got = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text)?.[1];
      if (got !== accept) return fail(new Error('bad Sec-WebSocket-Accept'));
      settled = true;
      clearTimeout(timer);
      s.open = true;
      socket.off('data', onHandshake);
      socket.on('data', (c: Buffer) => onData(s, c));
      const rest = head.subarray(endAt + 4);
      if (rest.length > 0) onData(s, Buffer.from(rest));
      resolve(s);
    };
    socket.on('data', onHandshake);
    socket.on('error', (err: NodeJS.ErrnoException) => fail(err));
    socket.on('close', () => {
      onClose(s, 1006);
      for (const w of s.waiters.values()) w({ type: 'error', code: 'closed', message: 'the socket closed' });
      s.waiters.clear();
      resolveClosed();
      fail(new Error('closed during the handshake'));
    });
  });
}

/** Runs fn over items with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function request(s: Sock, frameObj: Record<string, unknown>, id: string, timeoutMs: number): Promise<{ type: string; code?: string; message?: string }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      s.waiters.delete(id);
      resolve({ type: 'timeout' });
    }, timeoutMs);
    s.waiters.set(id, (f) => {
      clearTimeout(timer);
      resolve(f);
    });
    sendJson(s, { ...frameObj, id });
  });
}

// ---- commands --------------------------------------------------------------------------------

async function doConnect(c: Extract<Command, { cmd: 'connect' }>): Promise<ConnectReply> {
  const t0 = performance.now();
  senderCount = c.senders;
  const refused: Record<string, number> = {};
  const failed: Record<string, number> = {};
  await pool(c.targets, c.concurrency, async (t) => {
    try {
      socks.push(await connect(t));
    } catch (err) {
      const e = err as Error & { status?: number; code?: string };
      if (e.status !== undefined) bump(refused, String(e.status));
      else bump(failed, e.code ?? e.message);
    }
  });
  return { open: socks.filter((s) => s.open).length, refused, failed, ms: Math.round(performance.now() - t0) };
}

async function doJoin(c: Extract<Command, { cmd: 'join' }>): Promise<JoinReply> {
  let joined = 0;
  let timeouts = 0;
  let firstError: string | null = null;
  const errors: Record<string, number> = {};
  await pool(socks.filter((s) => s.open), c.concurrency, async (s) => {
    const f = await request(s, { type: 'session:join', sessionId: c.sessionId }, 'join', JOIN_TIMEOUT_MS);
    if (f.type === 'ack') joined++;
    else if (f.type === 'timeout') timeouts++;
    else {
      bump(errors, String(f.code));
      firstError ??= `${f.code}: ${f.message}`;
    }
  });
  return { joined, errors, firstError, timeouts };
}

function doReset(c: Extract<Command, { cmd: 'reset' }>): Record<string, never> {
  run = c.run;
  perSender = c.perSender;
  seen = new Uint8Array(senderCount * perSender);
  acked = new Uint8Array(senderCount * perSender);
  refused = new Uint8Array(senderCount * perSender);
  hist = new Array<number>(HIST_BUCKETS).fill(0);
  latCount = latSumUs = latMaxUs = receivedTotal = outOfOrder = staleChat = untaggedChat = acks = sendErrorCount = 0;
  receivedByNode = [0, 0];
  sendErrors = {};
  firstSendError = null;
  otherErrors = {};
  otherFrames = {};
  closes = {};
  firstCloseUs = null;
  for (const s of socks) {
    s.received = 0;
    s.hash = 0;
    s.lastSeq.fill(-1);
  }
  cpuAtReset = process.cpuUsage();
  return {};
}

/**
 * Sender k sends its j-th message at startUs + (j + k/senders) / rate seconds: the senders'
 * messages interleave evenly. A late timer sends what is due at once (the bucket allows a burst).
 */
function doSend(c: Extract<Command, { cmd: 'send' }>): Promise<SendReply> {
  runStartUs = c.startUs;
  const senders = socks.filter((s) => s.t.sender >= 0).sort((a, b) => a.t.sender - b.t.sender);
  const n = senders.length;
  const stepUs = 1e6 / c.rate;
  const due = (k: number, j: number) => c.startUs + (j + k / Math.max(1, n)) * stepUs;
  const sentBy = new Array<number>(n).fill(0);
  let sent = 0;
  let lagMaxUs = 0;
  let lagSumUs = 0;
  const user = { id: '00000000-0000-4000-8000-000000000000', name: 'Bench viewer' };
  let bareId = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = nowUs();
      let nextDue = Infinity;
      for (let k = 0; k < n; k++) {
        const s = senders[k]!;
        while (sentBy[k]! < c.perSender && due(k, sentBy[k]!) <= now) {
          const j = sentBy[k]!;
          const at = nowUs();
          const lag = at - due(k, j);
          lagMaxUs = Math.max(lagMaxUs, lag);
          lagSumUs += lag;
          const text = chatText(c.run, s.t.sender, j, at);
          const clientMsgId = `${c.run}.${s.t.sender}.${j}`;
          if (c.mode === 'ours') sendJson(s, { type: 'chat:send', sessionId: c.sessionId, text, clientMsgId, id: `m${clientMsgId}` });
          else {
            // the bare peer relays frames as they are: send what our server would broadcast, same shape and size
            sendJson(s, {
              type: 'chat:message',
              message: { id: String(++bareId + 1_000_000), sessionId: c.sessionId, user: { ...user, name: `${user.name} ${String(s.t.idx).padStart(5, '0')}` }, text, createdAt: new Date().toISOString(), clientMsgId, pinned: false },
            });
          }
          sentBy[k] = j + 1;
          sent++;
        }
        if (sentBy[k]! < c.perSender) nextDue = Math.min(nextDue, due(k, sentBy[k]!));
      }
      if (nextDue === Infinity) {
        resolve({ sent, lagMaxMs: lagMaxUs / 1000, lagMeanMs: sent ? lagSumUs / sent / 1000 : 0, wallSeconds: (nowUs() - c.startUs) / 1e6 });
        return;
      }
      setTimeout(tick, Math.max(0, (nextDue - nowUs()) / 1000));
    };
    setTimeout(tick, Math.max(0, (c.startUs - nowUs()) / 1000));
  });
}

function doProgress(): ProgressReply {
  return { received: receivedTotal, acks, sendErrors: sendErrorCount, errorsWithoutId: Object.values(otherErrors).reduce((a, b) => a + b, 0) };
}

const indices = (bits: Uint8Array) => {
  const out: number[] = [];
  for (let i = 0; i < bits.length; i++) if (bits[i]) out.push(i);
  return out;
};

function doStats(): StatsReply {
  let min = Infinity;
  let max = 0;
  const orders: Record<string, number> = {};
  for (const s of socks) {
    min = Math.min(min, s.received);
    max = Math.max(max, s.received);
    bump(orders, `${s.received}:${(s.hash >>> 0).toString(16)}`);
  }
  const cpu = process.cpuUsage(cpuAtReset);
  return {
    sockets: socks.length,
    openNow: socks.filter((s) => s.open).length,
    received: receivedTotal,
    receivedByNode,
    perSocketMin: socks.length ? min : 0,
    perSocketMax: max,
    orders,
    outOfOrder,
    seen: indices(seen),
    acked: indices(acked),
    refused: indices(refused),
    hist,
    latCount,
    latSumUs,
    latMaxUs,
    staleChat,
    untaggedChat,
    acks,
    sendErrors,
    firstSendError,
    otherErrors,
    otherFrames,
    closes,
    firstCloseAfterS: firstCloseUs === null || runStartUs === 0 ? null : (firstCloseUs - runStartUs) / 1e6,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    rssBytes: process.memoryUsage.rss(),
  };
}

async function doClose(): Promise<Record<string, never>> {
  for (const s of socks) {
    if (s.open) s.socket.end(frame(0x8, Buffer.from([0x03, 0xe8]))); // 1000
    else s.socket.destroy();
  }
  const all = Promise.all(socks.map((s) => s.closed));
  const timer = setTimeout(() => socks.forEach((s) => s.socket.destroy()), 5_000);
  await all;
  clearTimeout(timer);
  socks.length = 0;
  return {};
}

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case 'connect':
      return doConnect(c);
    case 'join':
      return doJoin(c);
    case 'reset':
      return doReset(c);
    case 'send':
      return doSend(c);
    case 'progress':
      return doProgress();
    case 'stats':
      return doStats();
    case 'close':
      return doClose();
  }
}

if (!process.send) {
  process.stderr.write('chat-client is started by bench:chat (src/bench/chat.ts) over IPC.\n');
  process.exit(2);
}
process.on('message', (m: { rid: number; command: Command }) => {
  handle(m.command).then(
    (reply) => process.send!({ rid: m.rid, reply }),
    (err: unknown) => process.send!({ rid: m.rid, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0)); // the orchestrator is gone
