// RTMPS: with a certificate configured, the ingest also listens for TLS publishers.
import path from 'node:path';
import t from 'tap';
import { freePort } from '../local/processes.js';
import { publishTestPattern, run, testDir } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';

const dir = testDir('tls');
const cert = path.join(dir, 'cert.pem');
const key = path.join(dir, 'key.pem');
const made = await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', cert]);
t.equal(made.code, 0, 'a self-signed certificate');
const rtmpsPort = await freePort();
const stack = await startStack(t, { extraEnv: { RTMPS_CERT: cert, RTMPS_KEY: key, RTMPS_PORT: String(rtmpsPort) } });

t.test('a publish over RTMPS goes live', async (t) => {
  const s = await stack.createStream('tls');
  publishTestPattern(t, { url: `rtmps://127.0.0.1:${rtmpsPort}/live/${s.streamKey}`, width: 640, height: 360, fps: 10, seconds: 30, videoKbps: 600 });
  await stack.waitForMaster(s.playbackId);
  t.equal(await stack.streamStatus(s.id), 'live');
  t.notOk(stack.allLogs().includes(s.streamKey), 'no key in the logs');
});
