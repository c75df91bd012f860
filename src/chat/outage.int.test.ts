// Issue 10 drill, on a Postgres and Redis of this file's own and two real API nodes: chat
// flooded into one session from WebSocket and REST senders on both nodes while Postgres is
// SIGKILLed (three times) and started again. Each kill lands while Redis is frozen for a moment
// (SIGSTOP), so that sends are caught between their INSERT and their COMMIT: a frame published
// before COMMIT (the old way) sits in Redis and goes out when Redis wakes, for a transaction the
// kill rolled back. Afterwards every message any client received is in history with the seq it
// arrived with, each client saw them in seq order (so no two clients saw two messages in
// different orders), and every client received every message history has.
// Then Redis is stopped: sends are still answered (committed), and reach the room once Redis is
// back (the outbox).
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { freePort } from '../local/processes.js';
import { privateServices } from '../testing/private-services.js';
import { startStack } from '../testing/stack.js';
import { spawnRole, waitFor } from '../testing/harness.js';
import { NO_RATE_LIMITS } from '../testing/api.js';
import { connectWs, type WsClient } from '../testing/ws.js';

const services = await privateServices(t);
const stack = await startStack(t, { services, workers: 0, extraEnv: NO_RATE_LIMITS });
const portB = await freePort();
const apiB = spawnRole(t, 'api', { ...stack.env, PORT: String(portB), INSTANCE_ID: 'api-b' }, 'api-b');
if (process.env.OUTAGE_DEBUG) t.teardown(() => writeFileSync(process.env.OUTAGE_DEBUG!, `${apiB.output()}\n=====\n${stack.allLogs()}`));
await waitFor(() => fetch(`http://127.0.0.1:${portB}/api/health`).then((r) => r.ok, () => false), { what: 'the second API node', timeoutMs: 20_000 });
const nodes = [`127.0.0.1:${stack.apiPort}`, `127.0.0.1:${portB}`];

const at = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
const event = (await stack.api('POST', '/events', { title: 'Outage', startsAt: at(-1), endsAt: at(3), status: 'published' }, stack.token)).body;
const session = (await stack.api('POST', `/events/${event.id}/sessions`, { title: 'Main', startsAt: at(-1), endsAt: at(2) }, stack.token)).body;
const people = await Promise.all(['Ann', 'Ben', 'Cid', 'Dot', 'Eve', 'Fay'].map((n) => stack.user(n)));
const clients: WsClient[] = await Promise.all(people.map((p, i) => connectWs(`ws://${nodes[i % 2]}/ws`, { token: p.token })));
t.teardown(() => clients.forEach((c) => c.close()));
for (const c of clients) if ((await c.request({ type: 'session:join', sessionId: session.id })).type !== 'ack') throw new Error('session:join failed');

/** A REST call straight to one API node that gives up after a while (Postgres may be gone). */
async function post(node: string, token: string, body: object): Promise<number> {
  try {
    const res = await fetch(`http://${node}/api/chat/session/${session.id}`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function history(): Promise<{ id: string; seq: number }[]> {
  const all: { id: string; seq: number }[] = [];
  let before = '';
  for (;;) {
    const r = await stack.api('GET', `/chat/session/${session.id}?limit=100${before}`, undefined, people[0]!.token);
    if (r.status !== 200) throw new Error(`history ${r.status}`);
    all.unshift(...r.body.items.map((m: { id: string; seq: number }) => ({ id: m.id, seq: m.seq })));
    if (!r.body.nextCursor) return all;
    before = `&before=${r.body.nextCursor}`;
  }
}

/** What a client keeps: each seq once (a repeat after a crash is dropped), in arrival order. */
function received(c: WsClient): { id: string; seq: number }[] {
  const seen = new Set<number>();
  const out: { id: string; seq: number }[] = [];
  for (const f of c.frames) {
    if (f.type !== 'chat:message' || f.message.sessionId !== session.id || seen.has(f.message.seq)) continue;
    seen.add(f.message.seq);
    out.push({ id: f.message.id, seq: f.message.seq });
  }
  return out;
}

t.test('Postgres killed during a send flood: every message received is in history, in one order everywhere', async (t) => {
  let running = true;
  let ok = 0;
  let failed = 0;
  const count = (good: boolean) => (good ? ok++ : failed++);
  // how the failed ones were answered: an outage is `unavailable` (503), never `internal` (500)
  const refusals = new Set<string>();
  let n = 0;
  // REST senders on both nodes, as fast as they are answered (they keep the session's lock busy)
  const rest = Array.from({ length: 8 }, async (_, i) => {
    while (running) {
      const status = await post(nodes[i % 2]!, people[i % people.length]!.token, { text: `rest ${i} ${n}`, clientMsgId: `r${i}-${n++}` });
      count(status === 201);
      if (status !== 201 && status !== 0) refusals.add(`REST ${status}`);
    }
  });
  // and every WebSocket client sends too, within its socket's own rate (5 a second)
  const ws = clients.map(async (c, i) => {
    while (running) {
      const r = await c.request({ type: 'chat:send', sessionId: session.id, text: `ws ${i} ${n}`, clientMsgId: `w${i}-${n++}` }, 12_000).catch(() => ({ type: 'timeout' }));
      count(r.type === 'ack');
      if (r.type === 'error') refusals.add(`WS ${(r as { code?: string }).code}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  });
  for (let round = 1; round <= 3; round++) {
    const before = ok;
    await waitFor(() => ok > before + 50, { what: `sends going through (round ${round})`, timeoutMs: 60_000 });
    services.redis.freeze();
    await new Promise((res) => setTimeout(res, 500)); // shorter than the 2 s a publish may take
    await services.postgres.kill();
    await new Promise((res) => setTimeout(res, 500));
    services.redis.thaw();
    await new Promise((res) => setTimeout(res, 500));
    await services.postgres.start();
  }
  const before = ok;
  await waitFor(() => ok > before + 50, { what: 'sends going through after the last restart', timeoutMs: 60_000 });
  running = false;
  await Promise.all([...rest, ...ws]);
  t.ok(failed > 0, `some sends failed during the outages (${ok} went through, ${failed} did not)`);
  t.same([...refusals].filter((r) => r !== 'REST 503' && r !== 'WS unavailable'), [], `failed sends were answered unavailable (${[...refusals].join(', ')})`);

  await waitFor(async () => (await stack.db.query(`SELECT count(*)::int AS n FROM realtime_outbox`)).rows[0].n === 0, { what: 'the outbox to drain', timeoutMs: 30_000 });
  const kept = await history();
  const seqOf = new Map(kept.map((m) => [m.id, m.seq]));
  t.same(kept.map((m) => m.seq), kept.map((_, i) => i + 1), 'history numbers its messages 1, 2, 3, … with no gap');
  await waitFor(() => clients.every((c) => received(c).length >= kept.length), { what: 'every client to have every message', timeoutMs: 20_000 }).catch(() => undefined);
  const lists = clients.map(received);
  for (const [i, list] of lists.entries()) {
    const missing = list.filter((m) => seqOf.get(m.id) !== m.seq);
    t.same(missing, [], `client ${i}: every message it received (${list.length}) is in history, with the seq it arrived with`);
    const out = list.filter((m, k) => k > 0 && m.seq <= list[k - 1]!.seq);
    t.same(out, [], `client ${i}: received in seq order`);
    t.equal(list.length, kept.length, `client ${i}: received every message history has`);
  }
  for (let i = 1; i < lists.length; i++) {
    const common = new Set(lists[i]!.map((m) => m.id));
    const mine = new Set(lists[0]!.map((m) => m.id));
    t.same(lists[i]!.filter((m) => mine.has(m.id)).map((m) => m.id), lists[0]!.filter((m) => common.has(m.id)).map((m) => m.id), `client ${i} and client 0 agree on the order`);
  }
});

t.test('Redis stopped: sends are answered, and reach every client once Redis is back', async (t) => {
  await services.redis.stop();
  const rest = await post(nodes[0]!, people[0]!.token, { text: 'while Redis is away (REST)', clientMsgId: 'redis-away-rest' });
  t.equal(rest, 201, 'REST: committed and answered');
  const ack = await clients[1]!.request({ type: 'chat:send', sessionId: session.id, text: 'while Redis is away (WS)', clientMsgId: 'redis-away-ws' }, 15_000);
  t.equal(ack.type, 'ack', 'WebSocket: committed and acknowledged');
  const waiting = (await stack.db.query(`SELECT count(*)::int AS n FROM realtime_outbox`)).rows[0].n;
  t.equal(waiting, 2, 'both wait in the outbox');
  await new Promise((res) => setTimeout(res, 2_000));
  await services.redis.start();
  for (const c of clients) {
    for (const text of ['while Redis is away (REST)', 'while Redis is away (WS)']) {
      await c.next((f) => f.type === 'chat:message' && f.message.text === text, { timeoutMs: 30_000 });
    }
  }
  t.pass('every client received both');
  const kept = await history();
  t.same(kept.slice(-2).map((m) => m.seq), [kept.length - 1, kept.length], 'numbered after the others');
  const tail = received(clients[0]!).slice(-2).map((m) => m.seq);
  t.same(tail, [kept.length - 1, kept.length], 'and delivered in that order');
});
