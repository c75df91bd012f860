// Relay destinations against a real stack (api, ingest, nginx, Postgres, Redis): CRUD, the key
// write-only (never in an answer, a log line or the database in the clear), the per-stream
// limit, SSRF refusal, speakers reading status, `relay:status` to staff and speakers but never
// attendees, /metrics (counts, and each destination's status), bus announcements and key
// rotation. The relay itself is not here: the status it will write is written through its own
// function (recordRelayStatus).
import t from 'tap';
import { loadConfig, type RelaySettings } from '../config.js';
import { createLog } from '../log.js';
import { createBus, type BusMessages } from '../redis/bus.js';
import { createRedis } from '../redis/connection.js';
import { freePort } from '../local/processes.js';
import { randomId, spawnRole, waitFor } from '../testing/harness.js';
import { startStack } from '../testing/stack.js';
import { connectWs, joinedSession } from '../testing/ws.js';
import { createDestinationsService } from './service.js';
import { recordRelayStatus } from './status.js';

const MAX = 3;
const stack = await startStack(t, { workers: 0, extraEnv: { RELAY_MAX_DESTINATIONS: String(MAX) } });
const admin = stack.token;
const relay = loadConfig(stack.env, 'worker').relay;

const log = createLog({ level: 'silent', name: 'test' });
const pub = createRedis({ url: stack.env.REDIS_URL!, log, purpose: 'test' });
const sub = createRedis({ url: stack.env.REDIS_URL!, log, purpose: 'test-sub' });
t.teardown(() => void (pub.disconnect(), sub.disconnect()));
const bus = createBus({ pub, sub, prefix: stack.env.REDIS_PREFIX!, log });
const changes: BusMessages['stream.destinations-changed'][] = [];
await bus.subscribe('stream.destinations-changed', (m) => changes.push(m));

/** Every stream key a test sends: none may show up in an answer or a log. */
const keysSent: string[] = [];
const newKey = (tail = randomId(4).slice(0, 4)) => {
  const k = `sekret-${randomId(8)}-${tail}`;
  keysSent.push(k);
  return k;
};
const answers: string[] = [];
const call = async (method: string, p: string, body?: unknown, token = admin) => {
  const r = await stack.api(method, p, body, token);
  answers.push(JSON.stringify(r.body));
  return r;
};
const service = (keys: RelaySettings['keys']) => createDestinationsService({ db: stack.db, bus, log, relay: { ...relay, keys } });

t.test('CRUD: add, list (paged), rename, re-key, disable, remove; the key only as keyHint', async (t) => {
  t.equal(relay.allowPrivate, false, 'the stack refuses private destinations (RELAY_ALLOW_PRIVATE unset)');
  const s = await stack.createStream('relayed');
  const key = newKey('WXYZ');
  const created = await call('POST', `/streams/${s.id}/destinations`, { name: 'YouTube', url: 'rtmps://198.51.100.10:443/live2/', streamKey: key });
  t.equal(created.status, 201, JSON.stringify(created.body));
  t.same(created.body, {
    id: created.body.id, name: 'YouTube', url: 'rtmps://198.51.100.10:443/live2', enabled: true, status: 'idle',
    bytesSent: 0, bitrateKbps: null, connectedAt: null, retries: 0, lastError: null, keyHint: 'WXYZ',
  }, 'exactly the documented fields; the URL without its trailing slash; the key only as its last 4 characters');
  const second = await call('POST', `/streams/${s.id}/destinations`, { name: 'Twitch', url: 'rtmp://198.51.100.11/app', streamKey: newKey(), enabled: false });
  t.equal(second.body.enabled, false);

  const page1 = await call('GET', `/streams/${s.id}/destinations?limit=1`);
  t.same(page1.body.items.map((d: { name: string }) => d.name), ['YouTube'], 'oldest first');
  t.type(page1.body.nextCursor, 'string');
  const page2 = await call('GET', `/streams/${s.id}/destinations?limit=1&cursor=${page1.body.nextCursor}`);
  t.same(page2.body.items.map((d: { name: string }) => d.name), ['Twitch']);
  t.equal(page2.body.nextCursor, null);

  const rekey = newKey('9876');
  const patched = await call('PATCH', `/streams/${s.id}/destinations/${created.body.id}`, { name: 'YouTube main', streamKey: rekey });
  t.equal(patched.status, 200);
  t.same([patched.body.name, patched.body.keyHint, patched.body.url], ['YouTube main', '9876', 'rtmps://198.51.100.10:443/live2']);
  t.equal((await call('PATCH', `/streams/${s.id}/destinations/${created.body.id}`, {})).status, 400, 'an empty change is refused');
  t.equal((await call('PATCH', `/streams/${s.id}/destinations/${created.body.id}`, { streamKey: 'has space' })).status, 400, 'a key with a space is refused');

  const { rows } = await stack.db.query(`SELECT key_ciphertext, key_id FROM stream_destinations WHERE stream_id = $1`, [s.id]);
  t.equal(rows.length, 2);
  for (const r of rows) {
    t.equal(r.key_id, relay.keys[0]!.id, 'sealed under the first RELAY_KEYS entry');
    for (const k of keysSent) t.notOk((r.key_ciphertext as Buffer).includes(Buffer.from(k)), 'no key in the clear in the database');
  }
  t.same(await service(relay.keys).destinationsForRelay(s.id), [{ id: created.body.id, name: 'YouTube main', url: 'rtmps://198.51.100.10:443/live2', key: rekey }], 'the relay gets the enabled ones, decrypted (the new key)');

  const disabled = await call('PATCH', `/streams/${s.id}/destinations/${created.body.id}`, { enabled: false });
  t.equal(disabled.body.enabled, false);
  t.same(await service(relay.keys).destinationsForRelay(s.id), [], 'disabled: not relayed');

  t.equal((await call('DELETE', `/streams/${s.id}/destinations/${second.body.id}`)).status, 204);
  t.equal((await call('DELETE', `/streams/${s.id}/destinations/${second.body.id}`)).status, 404, 'gone');
  t.same((await call('GET', `/streams/${s.id}/destinations`)).body.items.map((d: { id: string }) => d.id), [created.body.id]);
  const other = await stack.createStream('another');
  t.equal((await call('PATCH', `/streams/${other.id}/destinations/${created.body.id}`, { enabled: true })).status, 404, 'a destination is reached through its own stream only');
  t.equal((await call('GET', `/streams/00000000-0000-4000-8000-000000000000/destinations`)).status, 404, 'unknown stream');

  // 2 adds, 2 accepted changes, 1 removal; refusals announce nothing
  await waitFor(async () => changes.filter((c) => c.streamId === s.id).length >= 5, { what: 'the bus announcements', timeoutMs: 10_000 });
  t.same(changes.filter((c) => c.streamId === s.id), Array(5).fill({ streamId: s.id }), 'every add, change and removal was announced on the bus as stream.destinations-changed {streamId}');

  t.equal((await call('DELETE', `/streams/${s.id}`)).status, 204);
  t.equal((await stack.db.query(`SELECT 1 FROM stream_destinations WHERE stream_id = $1`, [s.id])).rowCount, 0, 'deleting the stream deletes its destinations');
});

t.test('who may: admins manage, moderators read, attendees and speakers get nothing under /streams', async (t) => {
  const s = await stack.createStream('access');
  const mod = await stack.user('Mod', 'moderator');
  const att = await stack.user('Att');
  const body = { name: 'X', url: 'rtmp://198.51.100.12/app', streamKey: newKey() };
  t.equal((await call('POST', `/streams/${s.id}/destinations`, body, mod.token)).status, 403);
  t.equal((await call('GET', `/streams/${s.id}/destinations`, undefined, mod.token)).status, 200);
  t.equal((await call('GET', `/streams/${s.id}/destinations`, undefined, att.token)).status, 403);
  t.equal((await call('POST', `/streams/${s.id}/destinations`, body, att.token)).status, 403);
});

t.test(`at most RELAY_MAX_DESTINATIONS (${MAX}) per stream`, async (t) => {
  const s = await stack.createStream('limit');
  const add = (i: number) => call('POST', `/streams/${s.id}/destinations`, { name: `D${i}`, url: `rtmp://198.51.100.${20 + i}/app`, streamKey: newKey() });
  // added at once: the stream's row lock makes them count one after another
  const first = await Promise.all([0, 1, 2, 3].map(add));
  t.same(first.map((r) => r.status).sort(), [201, 201, 201, 409]);
  const refused = first.find((r) => r.status === 409)!;
  t.equal(refused.body.code, 'too_many_destinations');
  t.match(refused.body.detail, /at most 3 destinations \(RELAY_MAX_DESTINATIONS\)/);
  const one = first.find((r) => r.status === 201)!;
  t.equal((await call('DELETE', `/streams/${s.id}/destinations/${one.body.id}`)).status, 204);
  t.equal((await add(4)).status, 201, 'room again after a removal');
});

t.test('SSRF and bad URLs: refused with a clear error, on add and on change', async (t) => {
  const s = await stack.createStream('ssrf');
  const add = (url: string, streamKey = newKey()) => call('POST', `/streams/${s.id}/destinations`, { name: 'Bad', url, streamKey });
  const cases: [string, string, RegExp][] = [
    ['rtmp://127.0.0.1:1935/live', 'destination_private', /loopback, private or link-local address \(127\.0\.0\.1\).*RELAY_ALLOW_PRIVATE=true/],
    ['rtmp://localhost/live', 'destination_private', /"localhost"/],
    ['rtmp://169.254.169.254/latest', 'destination_private', /169\.254\.169\.254/],
    ['rtmp://10.1.2.3/app', 'destination_private', /10\.1\.2\.3/],
    ['rtmp://[::1]/app', 'destination_private', /::1/],
    ['http://198.51.100.30/app', 'invalid_destination', /rtmp:\/\/ or rtmps:\/\//],
    ['rtmp://u:p@198.51.100.30/app', 'invalid_destination', /user name or password/],
    ['rtmp://198.51.100.30/app?key=zzz', 'invalid_destination', /query/],
    ['rtmp://no-such-host.invalid/app', 'invalid_destination', /does not resolve/],
  ];
  for (const [url, code, detail] of cases) {
    const r = await add(url);
    t.equal(r.status, 400, url);
    t.equal(r.body.code, code, url);
    t.match(r.body.detail, detail, url);
  }
  const key = newKey();
  const smuggled = await add(`rtmp://198.51.100.30/app/${key}`, key);
  t.same([smuggled.status, smuggled.body.code], [400, 'invalid_destination'], 'the key inside the URL');
  t.notOk(JSON.stringify(smuggled.body).includes(key), 'and the refusal does not repeat it');
  const ok = await add('rtmp://198.51.100.30/app');
  t.equal(ok.status, 201);
  const moved = await call('PATCH', `/streams/${s.id}/destinations/${ok.body.id}`, { url: 'rtmp://192.168.0.10/app' });
  t.same([moved.status, moved.body.code], [400, 'destination_private'], 'a change of URL is checked too');
});

t.test('speakers read their session’s destinations; relay:status reaches staff and speakers in the room, never an attendee', async (t) => {
  const s = await stack.createStream('keynote');
  const { session } = await stack.liveSessionOn(s.id, 'Keynote');
  const speaker = await stack.user('Speaker', 'speaker');
  const attendee = await stack.user('Attendee');
  const put = await call('PUT', `/sessions/${session.id}`, { speakerIds: [speaker.id] });
  t.equal(put.status, 200, JSON.stringify(put.body));
  const d = (await call('POST', `/streams/${s.id}/destinations`, { name: 'YouTube', url: 'rtmp://198.51.100.40/live2', streamKey: newKey() })).body;

  const wsUrl = `ws://127.0.0.1:${stack.apiPort}/ws`;
  const staffWs = await joinedSession(wsUrl, admin, session.id);
  const speakerWs = await joinedSession(wsUrl, speaker.token, session.id);
  const attendeeWs = await joinedSession(wsUrl, attendee.token, session.id);
  t.teardown(() => [staffWs, speakerWs, attendeeWs].forEach((w) => w.close()));

  const connectedAt = new Date();
  await recordRelayStatus({ db: stack.db, bus, log }, {
    id: d.id, status: 'retrying', bytesSent: 123456, bitrateKbps: 2500, connectedAt, retries: 2,
    lastError: 'The destination refused the stream key at rtmp://198.51.100.40/live2/abc-secret-path',
  });
  const expected = {
    type: 'relay:status', sessionId: session.id, streamId: s.id, destinationId: d.id, name: 'YouTube', status: 'retrying',
    lastError: 'The destination refused the stream key at rtmp://198.51.100.40/live2/[redacted]',
  };
  for (const [who, ws] of [['staff', staffWs], ['speaker', speakerWs]] as const) {
    t.same(await ws.next((f) => f.type === 'relay:status', { timeoutMs: 10_000 }), expected, `${who} gets it, the last error without the path's secret`);
  }
  // everyone gets a chat message sent after it; by then a relay:status for the attendee would have come
  const ack = await staffWs.request({ type: 'chat:send', sessionId: session.id, text: 'after the relay status' });
  t.equal(ack.type, 'ack', JSON.stringify(ack));
  await attendeeWs.next((f) => f.type === 'chat:message' && f.message.text === 'after the relay status', { timeoutMs: 10_000 });
  t.notOk(attendeeWs.frames.some((f) => f.type === 'relay:status'), 'the attendee in the same room never gets relay:status');

  const bySpeaker = await call('GET', `/sessions/${session.id}/stream/destinations`, undefined, speaker.token);
  t.equal(bySpeaker.status, 200);
  t.same(bySpeaker.body.items.map((x: Record<string, unknown>) => [x.id, x.status, x.bytesSent, x.bitrateKbps, x.retries, x.connectedAt]), [[d.id, 'retrying', 123456, 2500, 2, connectedAt.toISOString()]], 'the speaker reads the status the relay wrote');
  t.equal((await call('GET', `/sessions/${session.id}/stream/destinations`, undefined, attendee.token)).status, 403, 'an attendee may not');
  t.equal((await call('GET', `/sessions/${session.id}/stream/destinations`, undefined, admin)).status, 200, 'staff may');
  const other = await stack.user('Other speaker', 'speaker');
  t.equal((await call('GET', `/sessions/${session.id}/stream/destinations`, undefined, other.token)).status, 403, 'a speaker of another session may not');
  t.equal((await call('PATCH', `/streams/${s.id}/destinations/${d.id}`, { enabled: false }, speaker.token)).status, 403, 'speakers only read');
});

t.test('/metrics: destinations by status and enabled, read at scrape time', async (t) => {
  const s = await stack.createStream('metrics');
  const d = (await call('POST', `/streams/${s.id}/destinations`, { name: 'M', url: 'rtmp://198.51.100.50/app', streamKey: newKey() })).body;
  const scrape = async () => (await fetch(`http://127.0.0.1:${stack.apiPort}/metrics`, { headers: { authorization: `Bearer ${stack.env.INTERNAL_API_KEY}` } })).text();
  const value = (text: string, status: string) => Number(new RegExp(`^onair_relay_destinations\\{status="${status}",enabled="true"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1]);
  const before = await scrape();
  t.match(before, /# HELP onair_relay_destinations /);
  const live = value(before, 'live');
  await recordRelayStatus({ db: stack.db, bus, log }, { id: d.id, status: 'live', bytesSent: 1, bitrateKbps: 100, connectedAt: new Date(), retries: 0, lastError: null });
  t.equal(value(await scrape(), 'live'), live + 1, 'one more live destination');
});

t.test('/metrics: each destination\'s status, bytes sent, bitrate and retries, labelled by its id and its stream\'s; gone when it is deleted', async (t) => {
  const s = await stack.createStream('metrics-each');
  const key = newKey();
  const add = async (name: string) => (await call('POST', `/streams/${s.id}/destinations`, { name, url: 'rtmp://198.51.100.51/app', streamKey: key })).body as { id: string };
  const [a, b] = [await add('Each A'), await add('Each B')];
  const scrape = async () => (await fetch(`http://127.0.0.1:${stack.apiPort}/metrics`, { headers: { authorization: `Bearer ${stack.env.INTERNAL_API_KEY}` } })).text();
  /** The samples of one metric for one destination, as `{labels} value` lines. */
  const series = (text: string, name: string, id: string) => text.split('\n').filter((l) => l.startsWith(`${name}{destination="${id}",stream="${s.id}",`));

  let text = await scrape();
  t.same(series(text, 'onair_relay_destination_status', a.id), [`onair_relay_destination_status{destination="${a.id}",stream="${s.id}",status="idle",role="api"} 1`], 'a new destination: idle');
  t.same(series(text, 'onair_relay_destination_sent_bytes_total', a.id), [`onair_relay_destination_sent_bytes_total{destination="${a.id}",stream="${s.id}",role="api"} 0`]);

  const status = { bytesSent: 0, bitrateKbps: null, connectedAt: null, lastError: null };
  await recordRelayStatus({ db: stack.db, bus, log }, { ...status, id: a.id, status: 'live', bytesSent: 9_876_543, bitrateKbps: 4_512.5, connectedAt: new Date(), retries: 1 });
  await recordRelayStatus({ db: stack.db, bus, log }, { ...status, id: b.id, status: 'retrying', retries: 3, lastError: 'The destination refused the stream key' });
  text = await scrape();
  t.same(series(text, 'onair_relay_destination_status', a.id), [`onair_relay_destination_status{destination="${a.id}",stream="${s.id}",status="live",role="api"} 1`], 'one series, its new status');
  t.same(series(text, 'onair_relay_destination_sent_bytes_total', a.id), [`onair_relay_destination_sent_bytes_total{destination="${a.id}",stream="${s.id}",role="api"} 9876543`]);
  t.same(series(text, 'onair_relay_destination_bitrate_kbps', a.id), [`onair_relay_destination_bitrate_kbps{destination="${a.id}",stream="${s.id}",role="api"} 4512.5`]);
  t.same(series(text, 'onair_relay_destination_retries_total', a.id), [`onair_relay_destination_retries_total{destination="${a.id}",stream="${s.id}",role="api"} 1`]);
  t.same(series(text, 'onair_relay_destination_status', b.id), [`onair_relay_destination_status{destination="${b.id}",stream="${s.id}",status="retrying",role="api"} 1`]);
  t.same(series(text, 'onair_relay_destination_retries_total', b.id), [`onair_relay_destination_retries_total{destination="${b.id}",stream="${s.id}",role="api"} 3`]);
  t.same(series(text, 'onair_relay_destination_bitrate_kbps', b.id), [`onair_relay_destination_bitrate_kbps{destination="${b.id}",stream="${s.id}",role="api"} 0`], 'no bitrate yet: 0');
  t.notOk(text.includes(key), 'no key in /metrics');
  t.notOk(text.includes('198.51.100.51'), 'no destination URL in /metrics');

  t.equal((await call('DELETE', `/streams/${s.id}/destinations/${b.id}`)).status, 204);
  text = await scrape();
  t.notOk(text.includes(b.id), 'a deleted destination has no series left');
  t.equal(series(text, 'onair_relay_destination_status', a.id).length, 1, 'the other stays');
  t.equal((await call('DELETE', `/streams/${s.id}`)).status, 204);
  t.notOk((await scrape()).includes(s.id), 'a deleted stream (its destinations with it) leaves no series');
});

t.test('key rotation: the first RELAY_KEYS entry re-encrypts the rows of the others; an unknown key id is not relayed', async (t) => {
  const s = await stack.createStream('rotation');
  const key = newKey();
  const d = (await call('POST', `/streams/${s.id}/destinations`, { name: 'R', url: 'rtmp://198.51.100.60/app', streamKey: key })).body;
  const next = { id: `n${randomId(4).slice(0, 6)}`, key: Buffer.alloc(32, 7) };
  t.match(await service([next]).destinationsForRelay(s.id), [{ id: d.id, key: null, problem: /can not be decrypted with the server's RELAY_KEYS \(unknown_key_id\); set the stream key again/ }], 'without the old key the row cannot be opened (no key: the relay marks it failed; logged without the key)');
  const rotated = service([next, ...relay.keys]);
  t.ok((await rotated.reencrypt()) >= 1, 're-encrypted');
  t.equal((await stack.db.query(`SELECT key_id FROM stream_destinations WHERE id = $1`, [d.id])).rows[0].key_id, next.id);
  t.same(await service([next]).destinationsForRelay(s.id), [{ id: d.id, name: 'R', url: 'rtmp://198.51.100.60/app', key }], 'the new key alone opens it now');
  t.equal(await rotated.reencrypt(), 0, 'nothing left to do');

  // the api does the same at start: a node started with a new first key re-encrypts the rest
  const key2 = newKey();
  const d2 = (await call('POST', `/streams/${s.id}/destinations`, { name: 'R2', url: 'rtmp://198.51.100.61/app', streamKey: key2 })).body;
  const third = { id: `m${randomId(4).slice(0, 6)}`, key: Buffer.alloc(32, 9) };
  const port = await freePort();
  const apiB = spawnRole(t, 'api', { ...stack.env, PORT: String(port), INSTANCE_ID: 'api-rotate', RELAY_KEYS: `${third.id}:${third.key.toString('base64')},${stack.env.RELAY_KEYS}` }, 'api-rotate');
  await waitFor(async () => (await stack.db.query(`SELECT key_id FROM stream_destinations WHERE id = $1`, [d2.id])).rows[0].key_id === third.id, { what: 'the api to re-encrypt at start', timeoutMs: 30_000 });
  const said = new RegExp(`Re-encrypted \\d+ relay destination key\\(s\\) under RELAY_KEYS id \\\\?"${third.id}`);
  await waitFor(() => said.test(apiB.output()), { what: 'the re-encryption to be logged', timeoutMs: 10_000 });
  t.pass('and says so in its log');
  t.same((await service([third]).destinationsForRelay(s.id)).find((x) => x.id === d2.id)?.key, key2, 'the new key opens it');
  t.notOk(apiB.output().includes(key2), 'its log holds no key');
});

t.test('no key sent in any test is in any answer or any role’s log', async (t) => {
  t.ok(keysSent.length > 10, `${keysSent.length} keys sent`);
  const logs = stack.allLogs();
  t.ok(logs.includes('Added a relay destination'), 'the logs do mention destinations');
  for (const k of keysSent) {
    t.notOk(answers.some((a) => a.includes(k)), `key …${k.slice(-4)}: in no answer`);
    t.notOk(logs.includes(k), `key …${k.slice(-4)}: in no log`);
  }
});
