// bench:chat's peer: a bare `ws` broadcast server in its own process (so its CPU and memory can
// be measured apart). No auth, no rooms, no persistence, no Redis, no backpressure, no heartbeat:
// every frame received is relayed as it is to every open socket, the sender included — the
// payload buffer is shared by all sends (serialised once), ws only writes a header per socket.
import { WebSocketServer, type WebSocket } from 'ws';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('chat-bare: set PORT.\n');
  process.exit(2);
}

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, maxPayload: 64 * 1024 });
wss.on('connection', (ws: WebSocket) => {
  ws.on('error', () => undefined);
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    for (const c of wss.clients) if (c.readyState === c.OPEN) c.send(data, { binary: isBinary });
  });
});
wss.on('listening', () => process.stdout.write('listening\n'));
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    for (const c of wss.clients) c.terminate();
    wss.close(() => process.exit(0));
  });
}
