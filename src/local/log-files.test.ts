import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { openRotatingLog, secureLogDir, shiftLogFiles } from './log-files.js';
import { isRoot, startChild } from './processes.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'onair-logs-'));

t.test('writing past the limit rotates; nothing is lost or split; the oldest files go', async (t) => {
  const d = dir();
  const file = path.join(d, 'api.log');
  const log = openRotatingLog(file, { maxBytes: 1000, files: 4 });
  const lines = Array.from({ length: 100 }, (_, i) => `{"n":${i},"msg":"${'x'.repeat(40)}"}\n`);
  for (const l of lines) log.write(l);
  log.close();
  t.same(readdirSync(d).sort(), ['api.log', 'api.log.1', 'api.log.2', 'api.log.3'], 'four files kept');
  for (const f of readdirSync(d)) {
    const size = statSync(path.join(d, f)).size;
    t.ok(size <= 1000, `${f}: ${size} bytes, within the limit`);
    t.equal(statSync(path.join(d, f)).mode & 0o777, 0o600, `${f} is 0600`);
  }
  const kept = ['api.log.3', 'api.log.2', 'api.log.1', 'api.log'].map((f) => readFileSync(path.join(d, f), 'utf8')).join('');
  t.ok(kept.length > 2000, 'several files of lines');
  t.ok(lines.join('').endsWith(kept), 'the kept files are the newest lines, in order, whole');
});

t.test('without a limit reached, one file; a reopened log appends and counts what it holds', async (t) => {
  const d = dir();
  const file = path.join(d, 'worker.log');
  const a = openRotatingLog(file, { maxBytes: 100, files: 2 });
  a.write('a'.repeat(60) + '\n');
  a.close();
  const b = openRotatingLog(file, { maxBytes: 100, files: 2 });
  b.write('b'.repeat(60) + '\n');
  b.close();
  t.equal(readFileSync(`${file}.1`, 'utf8'), 'a'.repeat(60) + '\n');
  t.equal(readFileSync(file, 'utf8'), 'b'.repeat(60) + '\n');
  shiftLogFiles(file, 1);
  t.same(readdirSync(d).sort(), ['worker.log.1'], 'keeping one file drops the live one on shift (the writer recreates it)');
});

t.test('the log folder and its files are closed to other local users', async (t) => {
  const d = path.join(dir(), 'logs');
  secureLogDir(d, { nginxUser: null });
  t.equal(statSync(d).mode & 0o777, 0o700, 'a new folder: 0700');
  writeFileSync(path.join(d, 'old.log'), 'x', { mode: 0o644 });
  secureLogDir(d, { nginxUser: null });
  t.equal(statSync(path.join(d, 'old.log')).mode & 0o777, 0o600, 'files from older starts: 0600');
  if (!isRoot()) return;
  secureLogDir(d, { nginxUser: 'www-data' });
  const st = statSync(d);
  t.equal(st.mode & 0o777, 0o750, 'as root: 0750, so nginx’s workers can reopen their files');
  t.equal(st.uid, 0);
  t.not(st.gid, 0, "and in the nginx user's group");
});

t.test("a role's output is rotated by its supervisor: nothing lost across rotations", async (t) => {
  const d = dir();
  const n = 2000;
  const child = startChild(
    { name: 'chatty', command: process.execPath, args: ['-e', `for (let i = 0; i < ${n}; i++) console.log(JSON.stringify({ i, msg: 'a line of a role log' }))`], restart: false },
    { logDir: d, onConsole: () => undefined, rotation: { maxBytes: 8_192, files: 100 } },
  );
  t.equal(await child.firstExit, 0);
  await child.stop();
  const files = readdirSync(d);
  t.ok(files.length >= 5, `rotated into ${files.length} files`);
  const seen = files.flatMap((f) => readFileSync(path.join(d, f), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i));
  t.equal(seen.length, n, 'every line, once, each whole (parsed as JSON)');
  t.equal(new Set(seen).size, n);
  for (const f of files) t.equal(statSync(path.join(d, f)).mode & 0o777, 0o600, `${f} is 0600`);
});
