// Streams you can control (issue 11): PATCH, DELETE and stop against a real stack — api, ingest,
// a worker, nginx, ffmpeg publishers — and what the broadcaster's encoder and the viewers see.
import t from 'tap';
import { createLog } from '../log.js';
import type { Bus } from '../redis/bus.js';
import { connectRaw, publishCommands } from '../testing/rtmp-client.js';
import { getText, publishTestPattern, randomId, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { createStreamsService } from './service.js';

const COOLOFF = 8;
const stack = await startStack(t, { workers: 1, extraEnv: { STOP_COOLOFF_SECONDS: String(COOLOFF) } });
const admin = stack.token;

const pattern = (key: string) => publishTestPattern(t, { url: stack.rtmpUrl(key), width: 640, height: 360, fps: 10, seconds: 120, videoKbps: 400 });

/** A publish with a valid handshake and no media: closed within 1 s means the ingest refused it. */
async function refusedAtOnce(key: string): Promise<boolean> {
  const c = await connectRaw(stack.rtmpPort);
  await c.handshake();
  const sentAt = Date.now();
  c.send(publishCommands({ app: 'live', name: key }));
  const closedAt = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(Number.MAX_SAFE_INTEGER), 3_000))]);
  return closedAt - sentAt < 1_000;
}

async function variantsEnded(playbackId: string): Promise<boolean> {
  const base = `${stack.base}/hls/${playbackId}/`;
  const master = await getText(`${base}master.m3u8`);
  const variants = master.text.split('\n').filter((l) => l.endsWith('.m3u8'));
  if (variants.length === 0) return false;
  for (const v of variants) if (!(await getText(`${base}${v}`)).text.includes('#EXT-X-ENDLIST')) return false;
  return true;
}

const latestSession = async (streamId: string) => (await stack.api('GET', `/streams/${streamId}/sessions`, undefined, admin)).body.items[0];
const get = (id: string) => stack.api('GET', `/streams/${id}`, undefined, admin);
const onAir = async (id: string) => ['starting', 'live'].includes(await stack.streamStatus(id));

t.test('PATCH: title and profile; disabling a live stream drops its publisher and refuses it until enabled again', async (t) => {
  const s = await stack.createStream('patch me');
  const renamed = await stack.api('PATCH', `/streams/${s.id}`, { title: 'renamed' }, admin);
  t.equal(renamed.status, 200);
  t.equal(renamed.body.title, 'renamed');
  t.equal((await get(s.id)).body.title, 'renamed', 'kept');
  t.notOk(JSON.stringify(renamed.body).includes(s.streamKey), 'the key is not in the answer');
  t.notOk('streamKey' in renamed.body);
  const unknown = await stack.api('PATCH', `/streams/${s.id}`, { profile: 'nope' }, admin);
  t.equal(unknown.status, 409);
  t.equal(unknown.body.code, 'unknown_profile');
  const recorded = await stack.api('PATCH', `/streams/${s.id}`, { record: true }, admin);
  t.same([recorded.status, recorded.body.record], [200, true], 'record is a field (recordings)');
  t.equal((await stack.api('PATCH', `/streams/${s.id}`, { record: 'yes' }, admin)).status, 400);
  t.equal((await stack.api('PATCH', `/streams/${s.id}`, { record: false }, admin)).body.record, false);
  t.equal((await stack.api('PATCH', `/streams/${s.id}`, { enabled: 'no' }, admin)).status, 400);

  // live on the default profile: its top rung passes the 360p source through
  const first = pattern(s.streamKey);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live', timeoutMs: 40_000 });
  t.ok((await get(s.id)).body.renditions.some((r: { passthrough: boolean }) => r.passthrough), 'default profile: a passed-through rung');

  // a profile change leaves the running publish alone
  const reprofiled = await stack.api('PATCH', `/streams/${s.id}`, { profile: 'no-passthrough' }, admin);
  t.equal(reprofiled.status, 200);
  t.equal(reprofiled.body.profile, 'no-passthrough');
  t.equal(reprofiled.body.status, 'live', 'still live');

  const disabled = await stack.api('PATCH', `/streams/${s.id}`, { enabled: false }, admin);
  t.equal(disabled.status, 200);
  t.equal(disabled.body.enabled, false);
  t.equal(disabled.body.status, 'offline', 'the answer shows it offline');
  t.not(await Promise.race([first.exited, new Promise((r) => setTimeout(() => r('running'), 10_000))]), 'running', 'the encoder was disconnected');
  await waitFor(() => variantsEnded(s.playbackId), { what: 'EXT-X-ENDLIST in every variant', timeoutMs: 15_000 });
  t.equal((await latestSession(s.id)).endReason, 'disabled');
  t.ok(await refusedAtOnce(s.streamKey), 'a reconnect is refused while disabled');

  t.equal((await stack.api('PATCH', `/streams/${s.id}`, { enabled: true }, admin)).body.enabled, true);
  pattern(s.streamKey);
  await waitFor(async () => (await stack.streamStatus(s.id)) === 'live', { what: 'live again once enabled', timeoutMs: 40_000 });
  const again = (await get(s.id)).body;
  t.ok(again.renditions.length > 0 && again.renditions.every((r: { passthrough: boolean }) => !r.passthrough), 'the next publish uses the new profile');
  await stack.api('POST', `/streams/${s.id}/stop`, undefined, admin);
});

t.test('stop: the publisher is dropped, reconnects are refused for the cool-off (told in the publish log), accepted after', async (t) => {
  const s = await stack.createStream('stop me');
  const pub = pattern(s.streamKey);
  await waitFor(() => onAir(s.id), { what: 'on air', timeoutMs: 20_000 });
  await stack.waitForMaster(s.playbackId, 40_000);
  const stopped = await stack.api('POST', `/streams/${s.id}/stop`, undefined, admin);
  t.equal(stopped.status, 202);
  t.equal(stopped.body.status, 'offline');
  t.ok(Date.parse(stopped.body.stoppedUntil) > Date.now(), 'stoppedUntil lies ahead');
  t.not(await Promise.race([pub.exited, new Promise((r) => setTimeout(() => r('running'), 10_000))]), 'running', 'the encoder was disconnected');
  await waitFor(() => variantsEnded(s.playbackId), { what: 'EXT-X-ENDLIST in every variant', timeoutMs: 15_000 });
  t.ok(await refusedAtOnce(s.streamKey), 'a reconnect during the cool-off is refused');
  const session = await latestSession(s.id);
  t.equal(session.endReason, 'stopped');
  t.ok(session.log.some((l: { message: string }) => /A publish was refused: An operator stopped this stream/.test(l.message)), 'the broadcaster is told why');
  t.notOk(JSON.stringify(session.log).includes(s.streamKey));

  await waitFor(async () => Date.now() > Date.parse(stopped.body.stoppedUntil) + 500, { what: 'the cool-off to pass', timeoutMs: (COOLOFF + 5) * 1000 });
  t.equal((await get(s.id)).body.stoppedUntil, null, 'no longer stopped');
  pattern(s.streamKey);
  await waitFor(() => onAir(s.id), { what: 'a publish accepted after the cool-off', timeoutMs: 15_000 });
  await stack.api('DELETE', `/streams/${s.id}?force=true`, undefined, admin);
});

t.test('a stop whose bus message is lost still drops the publisher (heartbeat re-check)', async (t) => {
  const s = await stack.createStream('lost message');
  const pub = pattern(s.streamKey);
  await waitFor(() => onAir(s.id), { what: 'on air', timeoutMs: 20_000 });
  const lostBus: Bus = { publish: async () => undefined, subscribe: async () => undefined, close: async () => undefined, ready: () => true };
  const core = createStreamsService({ db: stack.db, bus: lostBus, log: createLog({ level: 'silent', name: 'test' }), defaultProfile: 'default', profileExists: async () => true, stopCooloffSeconds: 60 });
  await core.stop(s.id);
  t.not(await Promise.race([pub.exited, new Promise((r) => setTimeout(() => r('running'), 15_000))]), 'running', 'dropped by the ingest’s heartbeat re-check');
  t.ok(await refusedAtOnce(s.streamKey), 'and refused');
  await stack.api('DELETE', `/streams/${s.id}`, undefined, admin);
});

t.test('DELETE: an idle stream goes; refused while live or assigned; force stops it and unassigns its sessions', async (t) => {
  const idle = await stack.createStream('idle');
  t.equal((await stack.api('DELETE', `/streams/${idle.id}`, undefined, admin)).status, 204);
  t.equal((await get(idle.id)).status, 404, 'gone');
  t.ok(await refusedAtOnce(idle.streamKey), 'its key no longer publishes');

  const assigned = await stack.createStream('assigned');
  const { session } = await stack.liveSessionOn(assigned.id, 'assigned event');
  const refusedAssigned = await stack.api('DELETE', `/streams/${assigned.id}`, undefined, admin);
  t.equal(refusedAssigned.status, 409);
  t.equal(refusedAssigned.body.code, 'stream_assigned');

  const live = await stack.createStream('live');
  const pub = pattern(live.streamKey);
  await waitFor(() => onAir(live.id), { what: 'on air', timeoutMs: 20_000 });
  const refusedLive = await stack.api('DELETE', `/streams/${live.id}`, undefined, admin);
  t.equal(refusedLive.status, 409);
  t.equal(refusedLive.body.code, 'stream_live');
  t.equal((await get(live.id)).status, 200, 'still there');

  t.equal((await stack.api('DELETE', `/streams/${live.id}?force=true`, undefined, admin)).status, 204);
  t.not(await Promise.race([pub.exited, new Promise((r) => setTimeout(() => r('running'), 10_000))]), 'running', 'the encoder was disconnected');
  t.equal((await get(live.id)).status, 404);

  t.equal((await stack.api('DELETE', `/streams/${assigned.id}?force=true`, undefined, admin)).status, 204);
  const after = await stack.api('GET', `/sessions/${session.id}`, undefined, admin);
  t.equal(after.status, 200, 'the session stays');
  t.equal(after.body.streamId ?? null, null, 'unassigned');
  t.equal((await stack.api('DELETE', `/streams/${live.id}?force=maybe`, undefined, admin)).status, 400);
});

t.test('access: only admins control streams; an unknown id is 404', async (t) => {
  const s = await stack.createStream('guarded');
  const email = `viewer-${randomId()}@example.com`;
  await stack.api('POST', '/auth/register', { email, password: 'a long enough password', name: 'Viewer' });
  const login = await stack.api('POST', '/auth/login', { email, password: 'a long enough password' });
  t.equal(login.status, 200);
  const attendee = login.body.token;
  t.equal((await stack.api('PATCH', `/streams/${s.id}`, { title: 'mine' }, attendee)).status, 403);
  t.equal((await stack.api('POST', `/streams/${s.id}/stop`, undefined, attendee)).status, 403);
  t.equal((await stack.api('DELETE', `/streams/${s.id}`, undefined, attendee)).status, 403);
  t.equal((await get(s.id)).body.title, 'guarded', 'unchanged');
  const nobody = '00000000-0000-4000-8000-000000000000';
  t.equal((await stack.api('PATCH', `/streams/${nobody}`, { title: 'x' }, admin)).status, 404);
  t.equal((await stack.api('POST', `/streams/${nobody}/stop`, undefined, admin)).status, 404);
  t.equal((await stack.api('DELETE', `/streams/${nobody}`, undefined, admin)).status, 404);
  t.equal((await stack.api('DELETE', `/streams/${nobody}?force=true`, undefined, admin)).status, 404);
});
