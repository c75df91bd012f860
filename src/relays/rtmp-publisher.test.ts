// The publisher's side of the RTMP conversation against a small hand-written server (the real
// servers are in rtmp-publisher.int.test.ts): the command sequence platforms expect, answers to
// the server's pings and acknowledgement window, and a refusal whose text echoes the key.
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { decodeAmf0All, encodeAmf0All, type Amf0 } from './amf0.js';
import { ChunkReader, encodeMessage, type RtmpMessage } from './rtmp-chunks.js';
import { TAG_VIDEO, type FlvTag } from './flv-reader.js';
import { RtmpPublisher } from './rtmp-publisher.js';

interface FakeServer {
  port: number;
  seen: RtmpMessage[];
  commands: string[];
}

/** Answers the handshake and the commands; `onPublish` decides what publish gets. */
async function fakeServer(t: Test, onPublish: (send: (m: Omit<RtmpMessage, 'timestamp'>) => void, key: string) => void): Promise<FakeServer> {
  const state: FakeServer = { port: 0, seen: [], commands: [] };
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    let hs: Buffer | null = Buffer.alloc(0);
    let answered = false;
    const reader = new ChunkReader();
    const send = (m: Omit<RtmpMessage, 'timestamp'>) => sock.write(encodeMessage({ ...m, timestamp: 0 }, 128));
    sock.on('data', (d: Buffer) => {
      if (hs) {
        hs = Buffer.concat([hs, d]);
        if (hs.length < 1537) return;
        if (!answered) sock.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 1), hs.subarray(1, 1537)])); // S0 S1 S2
        answered = true;
        if (hs.length < 1537 + 1536) return; // wait for C2
        d = hs.subarray(1537 + 1536);
        hs = null;
        // what servers do first: an acknowledgement window (small, so acks come soon) and a ping
        const win = Buffer.alloc(4);
        win.writeUInt32BE(1000);
        send({ csid: 2, typeId: 5, streamId: 0, payload: win });
        send({ csid: 2, typeId: 4, streamId: 0, payload: Buffer.from([0, 6, 0, 0, 0x12, 0x34]) });
      }
      for (const m of reader.push(d)) {
        state.seen.push(m);
        if (m.typeId !== 20) continue;
        const [name, txn, , arg] = decodeAmf0All(m.payload) as [string, number, Amf0, Amf0];
        state.commands.push(name);
        if (name === 'connect') send({ csid: 3, typeId: 20, streamId: 0, payload: encodeAmf0All('_result', txn, null, { code: 'NetConnection.Connect.Success' }) });
        if (name === 'createStream') send({ csid: 3, typeId: 20, streamId: 0, payload: encodeAmf0All('_result', txn, null, 7) });
        if (name === 'publish') onPublish(send, String(arg));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

function keptLog() {
  let text = '';
  const log = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => ((text += c.toString()), cb()) }));
  return { log, text: () => text };
}

t.test('connect, releaseStream, FCPublish, createStream, publish on the stream id given; pong for a ping; acknowledgements; live on Publish.Start', async (t) => {
  const srv = await fakeServer(t, (send) => send({ csid: 5, typeId: 20, streamId: 7, payload: encodeAmf0All('onStatus', 0, null, { level: 'status', code: 'NetStream.Publish.Start' }) }));
  const p = new RtmpPublisher({ url: `rtmp://127.0.0.1:${srv.port}/live2`, streamKey: 'abcd-efgh', log: keptLog().log });
  p.start();
  await Promise.race([
    new Promise<void>((resolve) => {
      const timer = setInterval(() => p.status().state === 'live' && (clearInterval(timer), resolve()), 20);
      void p.done.then(() => clearInterval(timer));
    }),
    p.done,
  ]);
  t.equal(p.status().state, 'live', `live (${p.status().lastError})`);
  t.same(srv.commands, ['connect', 'releaseStream', 'FCPublish', 'createStream', 'publish']);
  const connect = decodeAmf0All(srv.seen.find((m) => m.typeId === 20)!.payload);
  t.match(connect[2], { app: 'live2', type: 'nonprivate', tcUrl: `rtmp://127.0.0.1:${srv.port}/live2` });
  const publish = srv.seen.find((m) => m.typeId === 20 && decodeAmf0All(m.payload)[0] === 'publish')!;
  t.equal(publish.streamId, 7);
  t.same(decodeAmf0All(publish.payload).slice(3), ['abcd-efgh', 'live']);
  t.ok(srv.seen.some((m) => m.typeId === 4 && m.payload.equals(Buffer.from([0, 7, 0, 0, 0x12, 0x34]))), 'a pong with the ping timestamp');
  t.ok(srv.seen.some((m) => m.typeId === 3), 'an acknowledgement once the window was received');
  t.ok(srv.seen.some((m) => m.typeId === 1 && m.payload.readUInt32BE(0) === 4096), 'chunk size 4096 announced');
  t.ok(p.status().connectedAt instanceof Date);
  p.stop();
});

t.test('a refusal (onStatus error) becomes a clear error; a key the server echoes is taken out of it and out of the logs', async (t) => {
  const key = 'sk_live_0123456789';
  const srv = await fakeServer(t, (send, k) =>
    send({ csid: 5, typeId: 20, streamId: 7, payload: encodeAmf0All('onStatus', 0, null, { level: 'error', code: 'NetStream.Publish.BadName', description: `Stream ${k} is already\r\npublishing` }) }),
  );
  const logs = keptLog();
  const p = new RtmpPublisher({ url: `rtmp://127.0.0.1:${srv.port}/app`, streamKey: key, log: logs.log });
  p.start();
  const end = await p.done;
  t.equal(end.state, 'failed');
  t.equal(end.lastError, 'the destination refused the stream (NetStream.Publish.BadName: Stream [stream key] is already publishing)');
  t.notOk(logs.text().includes(key));
  t.ok(logs.text().includes('[stream key]'), 'the logged error is the scrubbed one');
});

t.test('nothing listening and a silent server are clear errors, within the connect timeout', async (t) => {
  const held: net.Socket[] = [];
  const silent = net.createServer((s) => (s.on('error', () => undefined), held.push(s)));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  const p = new RtmpPublisher({ url: `rtmp://127.0.0.1:${port}/live`, streamKey: 'k', log: keptLog().log, connectTimeoutMs: 500 });
  p.start();
  t.match((await p.done).lastError, /did not accept the stream within 1 s/);
  const free = await new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const fp = (s.address() as net.AddressInfo).port;
      s.close(() => r(fp));
    });
  });
  const q = new RtmpPublisher({ url: `rtmp://127.0.0.1:${free}/live`, streamKey: 'k', log: keptLog().log });
  q.start();
  t.match((await q.done).lastError, /refused the connection \(nothing listening at 127\.0\.0\.1:\d+\)/);
});

t.test('a source restart (new ffmpeg run from zero) keeps the connection and the destination timeline going forward, from a key frame with headers again', async (t) => {
  const srv = await fakeServer(t, (send) => send({ csid: 5, typeId: 20, streamId: 7, payload: encodeAmf0All('onStatus', 0, null, { level: 'status', code: 'NetStream.Publish.Start' }) }));
  const p = new RtmpPublisher({ url: `rtmp://127.0.0.1:${srv.port}/live`, streamKey: 'k', log: keptLog().log });
  p.start();
  const video = (ts: number, key: boolean, header = false): FlvTag => ({ type: TAG_VIDEO, timestamp: ts, data: Buffer.from([key ? 0x17 : 0x27, header ? 0 : 1, 0, 0, 0, ts & 0xff]), keyframe: key, sequenceHeader: header });
  const frames = () => srv.seen.filter((m) => m.typeId === 9 && m.payload[1] === 1);
  const until = async (n: number) => {
    for (let i = 0; i < 200 && frames().length < n; i++) await new Promise((r) => setTimeout(r, 10));
  };
  p.offer(video(0, true, true));
  for (let ts = 1000; ts <= 1400; ts += 40) p.offer(video(ts, ts === 1000));
  await until(11);
  p.sourceRestarted();
  p.offer(video(0, true, true));
  p.offer(video(0, false)); // not a start: dropped
  p.offer(video(40, true));
  p.offer(video(80, false));
  await until(13);
  t.same(frames().map((m) => m.timestamp), [0, 40, 80, 120, 160, 200, 240, 280, 320, 360, 400, 440, 480]);
  t.equal(srv.seen.filter((m) => m.typeId === 9 && m.payload[1] === 0).length, 2, 'the sequence header again before the new run');
  t.equal(p.status().state, 'live');
  p.stop();
});

t.test('after a source restart at a low frame rate the new run’s first frame comes one frame interval of the source later (never two frames in one frame slot)', async (t) => {
  const srv = await fakeServer(t, (send) => send({ csid: 5, typeId: 20, streamId: 7, payload: encodeAmf0All('onStatus', 0, null, { level: 'status', code: 'NetStream.Publish.Start' }) }));
  const p = new RtmpPublisher({ url: `rtmp://127.0.0.1:${srv.port}/live`, streamKey: 'k', log: keptLog().log });
  p.start();
  const video = (ts: number, key: boolean, header = false): FlvTag => ({ type: TAG_VIDEO, timestamp: ts, data: Buffer.from([key ? 0x17 : 0x27, header ? 0 : 1, 0, 0, 0, ts & 0xff]), keyframe: key, sequenceHeader: header });
  const frames = () => srv.seen.filter((m) => m.typeId === 9 && m.payload[1] === 1);
  const until = async (n: number) => {
    for (let i = 0; i < 200 && frames().length < n; i++) await new Promise((r) => setTimeout(r, 10));
  };
  p.offer(video(0, true, true));
  for (let ts = 500; ts <= 800; ts += 100) p.offer(video(ts, ts === 500)); // 10 fps
  await until(4);
  p.sourceRestarted();
  p.offer(video(0, true, true));
  p.offer(video(0, true));
  p.offer(video(100, false));
  await until(6);
  t.same(frames().map((m) => m.timestamp), [0, 100, 200, 300, 400, 500]);
  p.stop();
});
