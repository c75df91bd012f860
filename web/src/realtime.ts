// The page's one WebSocket (/ws): opened with a single-use ticket from the API, rooms joined
// again after every reconnect (with a growing, capped delay), frames handed to whoever listens
// for their type. A page never loses its rooms to a dropped connection.
import { api } from './api.js';

export type StreamStatus = 'offline' | 'starting' | 'live' | 'reconnecting' | 'failed';
export type ServerFrame =
  | { type: 'stream:status'; sessionId: string; status: StreamStatus; renditions: { name: string; width: number; height: number }[]; reason?: string }
  | { type: 'viewers:count'; sessionId: string; count: number }
  | { type: 'chat:message'; message: ChatMessage }
  | { type: 'chat:pinned'; sessionId: string; message: ChatMessage | null }
  | { type: 'chat:deleted'; sessionId: string; messageId: string }
  | { type: 'chat:settings'; settings: ChatSettings }
  | { type: 'typing'; sessionId: string; user: { id: string; name: string } }
  | { type: 'poll:new'; poll: Poll }
  | { type: 'poll:vote'; poll: Poll }
  | { type: 'poll:closed'; poll: Poll }
  | { type: 'question:new'; question: Question }
  | { type: 'question:answered'; question: Question }
  | { type: 'question:upvote'; question: { id: string; sessionId: string; upvotes: number } }
  | { type: 'room:closed'; room: string; code: string; reason: string }
  | { type: 'ack'; id: string }
  | { type: 'error'; id?: string; code: string; message: string };
export interface ChatMessage {
  id: string;
  sessionId: string;
  seq: number;
  user: { id: string; name: string };
  text: string;
  createdAt: string;
  clientMsgId: string | null;
  pinned: boolean;
}
export interface Poll {
  id: string;
  sessionId: string;
  question: string;
  options: { id: string; text: string; votes: number }[];
  totalVotes: number;
  closed: boolean;
  createdAt: string;
  myVote?: string | null;
}
export interface Question {
  id: string;
  sessionId: string;
  user: { id: string; name: string } | null;
  text: string;
  upvotes: number;
  answered: boolean;
  createdAt: string;
  upvotedByMe?: boolean;
}
export interface ChatSettings {
  sessionId: string;
  enabled: boolean;
  slowModeSeconds: number;
  attendeesOnly: boolean;
}
type Frame<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;

export interface Realtime {
  join(sessionId: string): void;
  /** Sends a frame if connected (false otherwise: the caller uses the REST API instead). */
  send(frame: object): boolean;
  on<T extends ServerFrame['type']>(type: T, fn: (frame: Frame<T>) => void): () => void;
  /** Connected now (false while reconnecting). */
  onState(fn: (connected: boolean) => void): () => void;
  close(): void;
}

export function connectRealtime(): Realtime {
  const sessions = new Set<string>();
  const listeners = new Map<string, Set<(f: ServerFrame) => void>>();
  const states = new Set<(connected: boolean) => void>();
  let socket: WebSocket | null = null;
  let closed = false;
  let attempt = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const send = (frame: object): boolean => {
    if (socket?.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  };
  const tell = (connected: boolean) => states.forEach((fn) => fn(connected));

  async function open() {
    if (closed) return;
    try {
      const { ticket } = await api<{ ticket: string }>('POST', '/realtime/ticket');
      const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?ticket=${encodeURIComponent(ticket)}`);
      socket = ws;
      ws.onopen = () => {
        attempt = 0;
        for (const id of sessions) send({ type: 'session:join', sessionId: id });
        tell(true);
      };
      ws.onmessage = (m) => {
        let frame: ServerFrame;
        try {
          frame = JSON.parse(String(m.data)) as ServerFrame;
        } catch {
          return;
        }
        listeners.get(frame.type)?.forEach((fn) => fn(frame));
      };
      ws.onclose = (e) => {
        if (socket !== ws) return;
        socket = null;
        tell(false);
        // 4401: signed out or revoked — no point in trying again with this token
        if (e.code !== 4401) retry();
      };
    } catch {
      retry();
    }
  }

  function retry() {
    if (closed || timer) return;
    attempt += 1;
    const delay = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)) * (0.75 + Math.random() / 2);
    timer = setTimeout(() => {
      timer = null;
      void open();
    }, delay);
  }

  void open();
  return {
    join(sessionId) {
      sessions.add(sessionId);
      send({ type: 'session:join', sessionId });
    },
    send,
    on(type, fn) {
      const set = listeners.get(type) ?? new Set();
      listeners.set(type, set);
      const f = fn as (f: ServerFrame) => void;
      set.add(f);
      return () => set.delete(f);
    },
    onState(fn) {
      states.add(fn);
      return () => states.delete(fn);
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      socket?.close();
    },
  };
}
