// A WebSocket test client: records every frame, waits for frames by predicate, and sends
// frames with an id to await their ack or error.
import { WebSocket } from 'ws';

export type Frame = { type: string; [k: string]: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface WsClient {
  ws: WebSocket;
  frames: Frame[];
  send(frame: object | string): void;
  /** Sends the frame with a fresh id; resolves with its ack or error frame. */
  request(frame: object, timeoutMs?: number): Promise<Frame>;
  /** The first frame (already received or coming) that matches, after `from` (an index into frames). */
  next(pred: (f: Frame) => boolean, o?: { timeoutMs?: number; from?: number }): Promise<Frame>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

let seq = 0;

/** `token`: sent as Authorization: Bearer (non-browser clients); `ticket`: as ?ticket= (browsers). */
export async function connectWs(url: string, o: { token?: string; ticket?: string; headers?: Record<string, string> } = {}): Promise<WsClient> {
  const target = o.ticket ? `${url}${url.includes('?') ? '&' : '?'}ticket=${encodeURIComponent(o.ticket)}` : url;
  const ws = new WebSocket(target, { headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers } });
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()));
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
  const next: WsClient['next'] = (pred, n = {}) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = frames.slice(n.from ?? 0).find(pred);
        if (hit) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => (waiters.delete(check), reject(new Error(`no matching frame within ${n.timeoutMs ?? 5000} ms; got ${JSON.stringify(frames).slice(-600)}`))), n.timeoutMs ?? 5000);
      waiters.add(check);
      check();
    });
  return {
    ws,
    frames,
    send: (f) => ws.send(typeof f === 'string' ? f : JSON.stringify(f)),
    request(frame, timeoutMs) {
      const id = `r${++seq}`;
      ws.send(JSON.stringify({ ...frame, id }));
      return next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id, { timeoutMs });
    },
    next,
    closed,
    close: () => ws.close(),
  };
}

/** A client that has joined the session's room (throws if the join is refused). */
export async function joinedSession(wsUrl: string, token: string, sessionId: string): Promise<WsClient> {
  const ws = await connectWs(wsUrl, { token });
  const ack = await ws.request({ type: 'session:join', sessionId });
  if (ack.type !== 'ack') throw new Error(`session:join → ${JSON.stringify(ack)}`);
  return ws;
}
