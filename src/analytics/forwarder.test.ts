// The viewer-line forwarder against a real file and UDP: every line nginx writes reaches every
// API node once, also across a size rotation (rename, USR1, nginx reopens). The "nginx" here is
// this process: it appends lines and reopens the path on USR1, as nginx does.
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, mkdtempSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { silentLog } from '../log.js';
import { parseViewerLines } from './collector.js';
import { startViewerLineForwarder } from './forwarder.js';
import { viewerId } from './playback.js';
import { MAX_DATAGRAM, openDatagram, viewerDatagramKey } from './viewer-datagram.js';

const KEY = viewerDatagramKey('0123456789abcdef0123456789abcdef');
const vid = viewerId('6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b', '0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3');
const line = (i: number) => `v1 1795314532.${String(i % 1000).padStart(3, '0')} ${vid} 200 1000 360p/s${i}.ts ${i.toString(16).padStart(32, '0')}`;

async function receiver() {
  const sock = createSocket('udp4');
  const got: string[] = [];
  const seqs: number[] = [];
  let refused = 0;
  sock.on('message', (m) => {
    const d = openDatagram(m, KEY);
    if (!d || m.length > MAX_DATAGRAM) return void refused++;
    seqs.push(d.seq);
    got.push(...parseViewerLines(d.body).lines.map((l) => l.requestId));
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { got, seqs, refused: () => refused, port: sock.address().port, close: () => sock.close() };
}

t.test('every line reaches every API node once, across rotations', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-fwd-'));
  const file = path.join(dir, 'viewer-lines.log');
  const pidFile = path.join(dir, 'nginx.pid');
  writeFileSync(pidFile, `${process.pid}\n`);
  let fd = openSync(file, 'a');
  const reopen = () => {
    closeSync(fd);
    fd = openSync(file, 'a');
  };
  process.on('SIGUSR1', reopen);
  t.teardown(() => void process.off('SIGUSR1', reopen));
  const [a, b] = [await receiver(), await receiver()];
  t.teardown(() => (a.close(), b.close()));
  const fwd = startViewerLineForwarder({ file, pidFile, upstreams: [`127.0.0.1:${a.port}`, `localhost:${b.port}`], key: KEY, log: silentLog(), rotateBytes: 20_000 });

  const total = 1_500;
  for (let i = 0; i < total; i++) {
    // like nginx's buffer: several lines per write, sometimes a line split across writes
    writeSync(fd, i % 7 === 3 ? line(i).slice(0, 10) : line(i) + '\n');
    if (i % 7 === 3) writeSync(fd, line(i).slice(10) + '\n');
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 60));
  }
  const want = Array.from({ length: total }, (_, i) => i.toString(16).padStart(32, '0'));
  const deadline = Date.now() + 10_000;
  while ((a.got.length < total || b.got.length < total) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  await fwd.stop();
  t.ok(fwd.stats.rotations >= 1, `rotated ${fwd.stats.rotations} time(s)`);
  t.same([...a.got].sort(), want, 'node A got every line once');
  t.same([...b.got].sort(), want, 'node B (by name) got every line once');
  t.notOk(existsSync(`${file}.1`), 'the rotated file is removed once read');
  t.equal(a.refused() + b.refused(), 0, 'every datagram is sealed with the key and at most 8 KiB');
  t.same([...a.seqs].sort((x, y) => x - y), a.seqs.map((_, i) => i + 1), 'each datagram has the next sequence number, none twice');
  t.same(b.seqs.sort((x, y) => x - y), a.seqs.sort((x, y) => x - y), 'every node gets the same datagrams');
  closeSync(fd);
});
