// bench:flood's flooder, in its own process so its load does not slow the measuring clients in
// the orchestrator (flood.ts): one account posting chat over many REST connections (autocannon,
// as fast as each connection gets answers) and a few WebSockets (frames sent back to back, a
// batch every 10 ms) for a fixed time. Spoken to over IPC; the token travels there, never in
// argv or the environment.
import autocannon from 'autocannon';
import { WebSocket } from 'ws';

export interface FloodCommand {
  base: string; // http://127.0.0.1:<nginx>
  token: string;
  sessionId: string;
  connections: number;
  sockets: number;
  seconds: number;
}

export interface FloodReply {
  rest: { sent: number; statusCodes: Record<string, number>; errors: number; reqPerSec: number };
  /** connected: sockets opened, the first ones and each reconnect after the server closed one */
  ws: { sent: number; acks: number; errors: Record<string, number>; connected: number; closedByServer: Record<string, number> };
}

const BATCH = 20; // frames per socket per 10 ms: far beyond any limit

async function restFlood(c: FloodCommand): Promise<FloodReply['rest']> {
  if (c.connections === 0) return { sent: 0, statusCodes: {}, errors: 0, reqPerSec: 0 };
  const r = await autocannon({
    url: `${c.base}/api/chat/session/${c.sessionId}`,
    method: 'POST',
    connections: c.connections,
    duration: c.seconds,
    headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'flood' }),
    timeout: 10,
  });
  return {
    sent: r.requests.sent,
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([code, s]) => [code, s.count])),
    errors: r.errors,
    reqPerSec: r.duration > 0 ? Math.round(r.requests.total / r.duration) : 0,
  };
}

async function socketFlood(c: FloodCommand): Promise<FloodReply['ws']> {
  const out: FloodReply['ws'] = { sent: 0, acks: 0, errors: {}, connected: 0, closedByServer: {} };
  const wsUrl = c.base.replace(/^http/, 'ws') + '/ws';
  const until = Date.now() + c.seconds * 1000;
  // one socket at a time per slot, reconnecting at once whenever the server closes it
  const slot = async () => {
    while (Date.now() < until) {
      const code = await one().catch(() => 0);
      if (code !== 0) out.closedByServer[code] = (out.closedByServer[code] ?? 0) + 1;
    }
  };
  const one = async (): Promise<number> => {
    // the bearer header (non-browser clients): no token in a URL
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${c.token}` } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    out.connected++;
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as { type: string; code?: string };
      if (f.type === 'ack') out.acks++;
      else if (f.type === 'error') out.errors[f.code ?? '?'] = (out.errors[f.code ?? '?'] ?? 0) + 1;
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(JSON.stringify({ type: 'session:join', sessionId: c.sessionId }));
    let n = 0;
    const timer = setInterval(() => {
      if (Date.now() >= until || ws.readyState !== WebSocket.OPEN) return;
      for (let i = 0; i < BATCH; i++) {
        ws.send(JSON.stringify({ type: 'chat:send', id: `f${n}`, sessionId: c.sessionId, text: `flood ${n++}` }));
        out.sent++;
      }
    }, 10);
    const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(0), until - Date.now() + 2_000))]); // answers still in flight
    clearInterval(timer);
    ws.close();
    return code;
  };
  await Promise.all(Array.from({ length: c.sockets }, slot));
  return out; // session:join went without an id, so every ack counted is a chat message's

}

if (!process.send) {
  process.stderr.write('flood-client is started by bench:flood (src/bench/flood.ts) over IPC.\n');
  process.exit(2);
}
process.on('message', (m: { rid: number; command: FloodCommand }) => {
  Promise.all([restFlood(m.command), socketFlood(m.command)]).then(
    ([rest, ws]) => process.send!({ rid: m.rid, reply: { rest, ws } satisfies FloodReply }),
    (err: unknown) => process.send!({ rid: m.rid, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
