// Bulk user import over REST against real Postgres: 10,000 rows of CSV and of JSON with bad rows,
// in-file duplicates and existing emails mixed in; re-runs; set-password tokens; refusals.
import t, { type Test } from 'tap';
import { NO_RATE_LIMITS, startTestApi } from '../testing/api.js';

const api = await startTestApi(t, { env: NO_RATE_LIMITS }); // the import limit: moderation/rate-limits.int.test.ts
const { call, pool, user } = api;
const admin = await user('admin');

interface Expect {
  line: number;
  email: string;
  status: 'created' | 'skipped' | 'failed';
  reason?: RegExp;
}

/**
 * A 10,000-row CSV: every 200th row is bad (50), every 500th repeats an earlier email in another
 * case (20), every 1000th is an email that already has an account (10). Some names are quoted
 * with commas, doubled quotes and line breaks, which moves the following records' line numbers.
 */
function buildCsv(domain: string, preexisting: string[]) {
  const lines: string[] = ['Role,EMAIL,Name'];
  const expect: Expect[] = [];
  let line = 2;
  const bad = [
    { row: (i: number) => `attendee,not-an-email-${i},Bad Email`, reason: /^email: email must be an email address$/ },
    { row: (i: number) => `attendee,empty-name-${i}@${domain},`, reason: /^name: name is required$/ },
    { row: (i: number) => `wizard,bad-role-${i}@${domain},Bad Role`, reason: /^role: role must be one of admin, moderator, speaker, attendee$/ },
    { row: (i: number) => `attendee,too-many-${i}@${domain},Two,Names`, reason: /^row: expected 3 fields \(role,email,name\), found 4$/ },
    { row: (i: number) => `attendee,long-${i}@${domain},${'x'.repeat(201)}`, reason: /^name: name is at most 200 characters$/ },
  ];
  for (let i = 0; i < 10_000; i++) {
    let row: string;
    let e: Expect;
    if (i % 200 === 199) {
      const pick = bad[Math.floor(i / 200) % bad.length]!;
      row = pick.row(i);
      const email = row.split(',')[1]!;
      e = { line, email, status: 'failed', reason: pick.reason };
    } else if (i % 500 === 498) {
      const first = i - 300; // a plain created row earlier in the file
      const email = `User${first}@${domain}`.toUpperCase();
      row = `,${email},Again ${i}`;
      const firstLine = expect[first]!.line;
      e = { line, email, status: 'skipped', reason: new RegExp(`^duplicate of line ${firstLine}$`) };
    } else if (i % 1000 === 997) {
      const email = preexisting[(i / 1000) | 0]!;
      row = `speaker,${email},Exists`;
      e = { line, email, status: 'skipped', reason: /^already exists$/ };
    } else {
      const email = `user${i}@${domain}`;
      const name = i % 97 === 0 ? `"Doe, J. ""${i}""\nsecond line"` : `Person ${i}`;
      row = `${i % 3 === 0 ? 'Speaker' : ''},${email},${name}`;
      e = { line, email, status: 'created' };
    }
    expect.push(e);
    lines.push(row);
    line += 1 + (row.match(/\n/g)?.length ?? 0);
  }
  return { csv: '\uFEFF' + lines.join('\r\n') + '\r\n', expect };
}

function check(t: Test, body: { created: number; skipped: number; failed: number; results: Record<string, unknown>[] }, expect: Expect[]) {
  const want = (s: string) => expect.filter((e) => e.status === s).length;
  t.same([body.created, body.skipped, body.failed], [want('created'), want('skipped'), want('failed')]);
  t.equal(body.results.length, expect.length);
  const wrong = expect.filter((e, i) => {
    const r = body.results[i]!;
    return r.line !== e.line || r.email !== e.email || r.status !== e.status || (e.reason ? !e.reason.test(String(r.reason)) : r.reason !== undefined);
  });
  t.same(wrong.slice(0, 3).map((e) => [e, body.results[expect.indexOf(e)]]), [], 'every row has its line, email, status and reason');
  const created = body.results.filter((r) => r.status === 'created');
  t.ok(created.every((r) => typeof r.userId === 'string' && typeof r.setPasswordToken === 'string'));
  t.equal(new Set(created.map((r) => r.setPasswordToken)).size, created.length, 'one token per created user');
}

t.test('CSV: 10,000 rows with bad rows, duplicates and existing emails', async (t) => {
  const pre = Array.from({ length: 10 }, (_, i) => `pre${i}@csv.example`);
  for (const email of pre) await user('attendee', { email });
  const { csv, expect } = buildCsv('csv.example', pre);
  t.same([expect.filter((e) => e.status === 'failed').length, expect.filter((e) => e.reason?.source.includes('duplicate')).length], [50, 20]);

  const start = Date.now();
  const r = await call('POST', '/users/import', { token: admin.token, raw: csv, type: 'text/csv; charset=utf-8' });
  const ms = Date.now() - start;
  t.equal(r.status, 200, r.status === 200 ? 'imported' : JSON.stringify(r.body));
  t.ok(ms < 15_000, `10,000 rows imported in ${ms} ms`);
  check(t, r.body, expect);
  t.equal(r.body.created, 9920);

  const quoted = await pool.query(`SELECT name, role FROM users WHERE email = 'user97@csv.example'`);
  t.same(quoted.rows[0], { name: 'Doe, J. "97"\nsecond line', role: 'attendee' });
  t.equal((await pool.query(`SELECT role FROM users WHERE email = 'user3@csv.example'`)).rows[0].role, 'speaker', 'role is case-insensitive');
  const noHash = await pool.query(`SELECT count(*) FROM users WHERE email LIKE '%@csv.example' AND password_hash IS NULL`);
  t.equal(Number(noHash.rows[0].count), 9920, 'imported users have no password');

  // the token lets the user set a password and sign in
  const one = r.body.results.find((x: { email: string }) => x.email === 'user5@csv.example');
  t.equal((await call('POST', '/auth/login', { body: { email: 'user5@csv.example', password: 'a fine password' } })).status, 401);
  t.equal((await call('POST', '/auth/set-password', { body: { token: one.setPasswordToken, password: 'a fine password' } })).status, 204);
  const login = await call('POST', '/auth/login', { body: { email: 'user5@csv.example', password: 'a fine password' } });
  t.same([login.status, login.body.user.id], [200, one.userId]);
  const stored = await pool.query(`SELECT count(*) FROM password_tokens WHERE digest = convert_to($1, 'UTF8')`, [one.setPasswordToken]);
  t.equal(Number(stored.rows[0].count), 0, 'tokens are stored as digests only');

  const again = await call('POST', '/users/import', { token: admin.token, raw: csv, type: 'text/csv' });
  t.equal(again.status, 200);
  t.same([again.body.created, again.body.skipped, again.body.failed], [0, 9950, 50], 're-running creates nothing twice');
  t.ok(again.body.results.every((x: { setPasswordToken?: string }) => x.setPasswordToken === undefined));
});

t.test('JSON: array and {users} with bad rows mixed in', async (t) => {
  await user('attendee', { email: 'Taken@json.example' });
  const items: unknown[] = [];
  for (let i = 0; i < 10_000; i++) items.push({ email: `j${i}@json.example`, name: `J ${i}`, ...(i % 4 === 0 ? { role: 'moderator' } : {}) });
  items[10] = 'not an object';
  items[11] = { email: 42, name: 'Number' };
  items[12] = { email: 'x@json.example', name: 'Extra', team: 'red' };
  items[13] = { email: 'y@json.example' };
  items[14] = { email: 'z@json.example', name: 'Bad Role', role: 'root' };
  items[15] = { email: 'J0@JSON.example', name: 'Dup' };
  items[16] = { email: 'taken@JSON.example', name: 'Exists', role: null };
  items[17] = { email: 'nul@json.example', name: 'Nul\u0000Name' };
  const r = await call('POST', '/users/import', { token: admin.token, body: items });
  t.equal(r.status, 200);
  t.same([r.body.created, r.body.skipped, r.body.failed], [9992, 2, 6]);
  const at = (line: number) => r.body.results[line - 1];
  t.same(at(11), { line: 11, email: '', status: 'failed', reason: 'row: the row must be an object with email, name and role' });
  t.same([at(12).status, at(12).reason], ['failed', 'email: email must be text']);
  t.equal(at(13).reason, 'row: unknown field "team"; a row has email, name and role');
  t.same([at(14).email, at(14).reason], ['y@json.example', 'name: name must be text']);
  t.match(at(15).reason, /^role: role must be one of/);
  t.same([at(16).status, at(16).reason], ['skipped', 'duplicate of line 1']);
  t.same([at(17).status, at(17).reason], ['skipped', 'already exists']);
  t.same([at(18).status, at(18).reason], ['failed', 'name: name must not contain NUL characters']);
  t.same([at(1).status, at(1).line], ['created', 1]);
  t.equal((await pool.query(`SELECT role FROM users WHERE email = 'j0@json.example'`)).rows[0].role, 'moderator');

  const wrapped = await call('POST', '/users/import', { token: admin.token, body: { users: items.slice(0, 100) } });
  t.same([wrapped.status, wrapped.body.created, wrapped.body.failed], [200, 0, 6]);
});

t.test('concurrent runs of the same new file create each user once', async (t) => {
  const csv = 'email,name\n' + Array.from({ length: 800 }, (_, i) => `c${i}@conc.example,C ${i}`).join('\n');
  const runs = await Promise.all([1, 2, 3].map(() => call('POST', '/users/import', { token: admin.token, raw: csv, type: 'text/csv' })));
  t.same(runs.map((r) => r.status), [200, 200, 200]);
  t.equal(runs.reduce((n, r) => n + r.body.created, 0), 800);
  t.equal(Number((await pool.query(`SELECT count(*) FROM users WHERE email LIKE '%@conc.example'`)).rows[0].count), 800);
});

t.test('refusals: limits, content type, roles, header, quoting', async (t) => {
  const post = (raw: string, o: { type?: string; token?: string } = {}) => call('POST', '/users/import', { token: o.token ?? admin.token, raw, type: o.type ?? 'text/csv' });
  const big = 'email,name\n' + Array.from({ length: 20_001 }, (_, i) => `b${i}@big.example,B`).join('\n');
  const tooMany = await post(big);
  t.same([tooMany.status, tooMany.body.code], [413, 'payload_too_large']);
  t.match(tooMany.body.detail, /at most 20,000 rows; this one has 20,001/);
  const bigJson = await call('POST', '/users/import', { token: admin.token, body: Array.from({ length: 20_001 }, () => ({})) });
  t.equal(bigJson.status, 413);
  t.equal(Number((await pool.query(`SELECT count(*) FROM users WHERE email LIKE '%@big.example'`)).rows[0].count), 0);

  t.equal((await post('email,name\na@b.example,A', { type: 'text/plain' })).status, 415);
  const attendee = await user('attendee');
  t.equal((await post('email,name\na@b.example,A', { token: attendee.token })).status, 403);
  t.equal((await call('POST', '/users/import', { raw: 'email,name\n', type: 'text/csv' })).status, 401);

  const extra = await post('email,name,role,team\na@b.example,A,,red');
  t.equal(extra.status, 400);
  t.match(extra.body.detail, /unknown column "team"/);
  t.match((await post('email,role\na@b.example,attendee')).body.detail, /no name column/);
  t.match((await post('email,name,EMAIL\n')).body.detail, /names the column "email" twice/);
  t.equal((await post('')).status, 400, 'empty body');
  t.match((await post('\n\n')).body.detail, /The CSV is empty/);
  const open = await post('email,name\na@b.example,"A\nb@b.example,B\n');
  t.same([open.status, open.body.errors?.[0]?.field], [400, 'body']);
  t.match(open.body.detail, /Line 2: a quoted field is never closed/);
  t.equal((await call('POST', '/users/import', { token: admin.token, body: { users: [], extra: 1 } })).status, 400);
  t.equal((await call('POST', '/users/import', { token: admin.token, body: { rows: [] } })).status, 400);
  t.equal((await call('POST', '/users/import', { token: admin.token, raw: '{"users":' })).status, 400);
  const none = await post('email,name\n');
  t.same([none.status, none.body.created, none.body.results], [200, 0, []]);
});
