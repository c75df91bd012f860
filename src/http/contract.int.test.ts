// Walks every declared endpoint: the authorisation matrix (every route × every role and
// anonymous, against the table in src/access.ts) and the OpenAPI document generated from them.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { z } from 'zod';
import { ACCESS, ROLES, alsoRule, isPublic, roleMay, type Action, type Role } from '../access.js';
import { startTestApi } from '../testing/api.js';
import { appEndpoints } from '../bin/api/app.js';
import type { Endpoint } from './endpoint.js';

const api = await startTestApi(t);
const endpoints = appEndpoints(api.deps);
const people = Object.fromEntries(await Promise.all(ROLES.map(async (r) => [r, await api.user(r)] as const))) as Record<Role, Awaited<ReturnType<typeof api.user>>>;
const bystander = await api.user('attendee');
// resources nobody in `people` has a claim on (not theirs, not an event they speak at), for the
// rules that depend on the resource ("self", "a speaker of the event")
const one = async (sql: string, params: unknown[] = []) => (await api.pool.query<{ id: string }>(sql, params)).rows[0]!.id;
const eventId = await one(`INSERT INTO events (title, starts_at, ends_at, status) VALUES ('Matrix', now() - interval '1 hour', now() + interval '2 days', 'published') RETURNING id`);
const sessionId = await one(`INSERT INTO event_sessions (event_id, title, starts_at, ends_at) VALUES ($1, 'Talk', now() - interval '1 hour', now() + interval '1 day') RETURNING id`, [eventId]);
const messageId = await one(`INSERT INTO chat_messages (session_id, user_id, text) VALUES ($1, $2, 'hello') RETURNING id::text AS id`, [sessionId, bystander.id]);
const pollId = await one(`INSERT INTO polls (session_id, question) VALUES ($1, 'Q?') RETURNING id`, [sessionId]);
await api.pool.query(`INSERT INTO poll_options (poll_id, position, text) VALUES ($1, 0, 'a'), ($1, 1, 'b')`, [pollId]);
const questionId = await one(`INSERT INTO questions (session_id, user_id, text) VALUES ($1, $2, 'Why?') RETURNING id`, [sessionId, bystander.id]);
const FIXTURE: [RegExp, string][] = [[/^\/users\//, bystander.id], [/^\/events\//, eventId], [/^\/sessions\//, sessionId], [/^\/chat\/session\//, sessionId], [/^\/chat\//, messageId], [/^\/polls\/session\//, sessionId], [/^\/polls\//, pollId], [/^\/questions\/session\//, sessionId], [/^\/questions\//, questionId], [/^\/analytics\/events\//, eventId], [/^\/analytics\/sessions\//, sessionId]];
/** Bodies for resource-dependent rules whose resource is named in the body. */
const BODY: Record<string, unknown> = { 'post /polls': { sessionId, question: 'Lunch?', options: ['yes', 'no'] } };

/** Path for the matrix: resource-dependent rules get a real resource the caller has no claim on. */
function matrixPath(e: Endpoint): string {
  if (!e.path.includes(':')) return e.path;
  if (!alsoRule(e.action)) return e.path.replace(/:(\w+)/g, () => randomUUID());
  const id = FIXTURE.find(([re]) => re.test(e.path))?.[1];
  if (!id) throw new Error(`no fixture for ${e.path}`);
  return e.path.replace(/:(\w+)/g, () => id);
}

function expected(action: Action, role: Role | null): 'ok' | 401 | 403 {
  if (isPublic(action)) return 'ok';
  if (role === null) return 401;
  return roleMay(role, action) ? 'ok' : 403;
}

t.test('every endpoint names an action of the table, and every action is used', async (t) => {
  const seen = new Set<string>();
  for (const e of endpoints) {
    const key = `${e.method} ${e.path}`;
    t.notOk(seen.has(key), `${key} is declared once`);
    seen.add(key);
    t.ok(e.action in ACCESS, `${key} → ${e.action}`);
  }
  const used = new Set(endpoints.map((e) => e.action));
  // consulted inside services: events.seeAll (drafts, private events, playback), chat.bypassLimits
  const insideServices = ['events.seeAll', 'chat.bypassLimits'];
  const unused = Object.keys(ACCESS).filter((a) => !used.has(a as Action) && !insideServices.includes(a));
  t.same(unused, [], 'no stale entries in the authorisation table');
});

t.test('authorisation matrix: every route × every role and anonymous answers as the table says', async (t) => {
  let checked = 0;
  for (const e of endpoints) {
    for (const role of [null, ...ROLES] as const) {
      let token = role ? people[role].token : undefined;
      // signing out would end the shared token: use a fresh sign-in for that one
      if (role && e.action === 'auth.logout') token = await api.login(people[role].email, people[role].password);
      const r = await api.call(e.method.toUpperCase(), matrixPath(e), { token, ...(e.body ? { body: BODY[`${e.method} ${e.path}`] ?? {} } : {}) });
      const want = expected(e.action, role);
      const label = `${e.method.toUpperCase()} ${e.path} as ${role ?? 'anonymous'} → ${r.status} (table: ${want})`;
      if (want === 'ok') t.ok(r.status !== 401 && r.status !== 403 && r.status < 500, label);
      else t.equal(r.status, want, label);
      checked++;
    }
  }
  t.equal(checked, endpoints.length * (ROLES.length + 1));
});

t.test('the resource-dependent rules: self and event speaker', async (t) => {
  const a = people.attendee;
  if (endpoints.some((e) => e.action === 'users.get')) {
    t.equal((await api.call('GET', `/users/${a.id}`, { token: a.token })).status, 200, 'an attendee reads themself');
    t.equal((await api.call('GET', `/users/${bystander.id}`, { token: a.token })).status, 403, 'but nobody else');
  }
  if (endpoints.some((e) => e.action === 'events.attendees.list')) {
    const speaker = people.speaker;
    t.equal((await api.call('GET', `/events/${eventId}/attendees`, { token: speaker.token })).status, 403, 'a speaker of another event may not');
    const s = await one(`INSERT INTO event_sessions (event_id, title, starts_at, ends_at) VALUES ($1, 'Other talk', now(), now() + interval '1 hour') RETURNING id`, [eventId]);
    await api.pool.query(`INSERT INTO session_speakers (session_id, user_id) VALUES ($1, $2)`, [s, speaker.id]);
    t.equal((await api.call('GET', `/events/${eventId}/attendees`, { token: speaker.token })).status, 200, "a speaker of the event's sessions may");
  }
});

t.test('the OpenAPI document is generated from the validating schemas and the table', async (t) => {
  const r = await api.call('GET', '/openapi.json');
  t.equal(r.status, 200);
  const doc = r.body;
  t.equal(doc.openapi, '3.1.0');
  for (const e of endpoints) {
    const path = '/api' + e.path.replace(/:(\w+)/g, '{$1}');
    const op = doc.paths?.[path]?.[e.method];
    t.ok(op, `${e.method} ${path} is documented`);
    if (!op) continue;
    const pathParams = [...e.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
    t.same(op.parameters.filter((p: { in: string }) => p.in === 'path').map((p: { name: string }) => p.name), pathParams, `${path}: path parameters`);
    t.same(op.security, isPublic(e.action) ? [] : [{ bearer: [] }], `${path}: security follows the table`);
    if (e.body && (e.bodyTypes ?? ['application/json']).includes('application/json')) {
      const { $schema: _s, ...same } = z.toJSONSchema(e.body, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
      t.same(op.requestBody.content['application/json'].schema, same, `${e.method} ${path}: the request schema is the validating one`);
    }
    for (const status of Object.keys(e.answers)) t.ok(op.responses[status], `${e.method} ${path}: answer ${status} documented`);
  }
});

t.test('interactive docs are served locally', async (t) => {
  const page = await api.call('GET', '/docs');
  t.equal(page.status, 200);
  t.match(page.type, /text\/html/);
  t.match(page.body, /swagger-ui-bundle\.js/);
  for (const asset of ['/docs/assets/swagger-ui-bundle.js', '/docs/assets/swagger-ui.css', '/docs/init.js']) {
    t.equal((await fetch(api.base + asset)).status, 200, asset);
  }
});

t.test('CORS follows CORS_ORIGIN', async (t) => {
  const other = await startTestApi(t, { env: { CORS_ORIGIN: 'https://app.example' } });
  const ok = await fetch(`${other.base}/health`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
  t.equal(ok.status, 204);
  t.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
  const no = await fetch(`${other.base}/health`, { headers: { origin: 'https://evil.example' } });
  t.equal(no.headers.get('access-control-allow-origin'), null);
});
