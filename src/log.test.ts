import t from 'tap';
import { createLog, MAX_REDACTED_TEXT, redactText } from './log.js';

t.test('free text loses anything that could be a secret', async (t) => {
  t.equal(redactText('Input #0, flv, from rtmp://10.0.0.2:1935/live/live_SECRETKEY123:'), 'Input #0, flv, from rtmp://10.0.0.2:1935/live/[redacted]');
  t.equal(redactText('pull rtmp://ingest:1935/internal/abc?sig=XYZ done'), 'pull rtmp://ingest:1935/internal/[redacted]?sig=[redacted] done');
  t.equal(redactText('start push /live/live_abc_DEF-123 ok'), 'start push /live/[redacted] ok');
  t.equal(redactText('url postgresql://onair:hunter2@db/onair'), 'url postgresql://onair:[redacted]@db/onair');
  t.equal(redactText('a?token=abc&x=1 key=zzz'), 'a?token=[redacted]&x=1 key=[redacted]');
  t.equal(redactText('GET /ws?ticket=T1ck3t&x=1'), 'GET /ws?ticket=[redacted]&x=1', 'WebSocket tickets too');
  t.equal(redactText('line one\r\nforged line'), 'line one forged line');
});

t.test('hostile free text is redacted in linear time, and its secrets still go', async (t) => {
  // stream names, app names and ffmpeg lines come from strangers: 200k characters of runs that
  // made the old URL-password pattern backtrack quadratically (~30 s each)
  const hostile: [string, string, string][] = [
    ['a word run', `rtmp://h/live/live_SECRET1 ${'a'.repeat(200_000)}`, 'live_SECRET1'],
    ['scheme runs without @', `postgresql://onair:hunter2@db ${'a://b:'.repeat(35_000)}`, 'hunter2'],
    ['rtmp:// runs', `x?sig=SIGSECRET ${'rtmp://'.repeat(30_000)}`, 'SIGSECRET'],
    ['one long token', `token=TOKSECRET ${'w'.repeat(100_000)}a://u:${'p'.repeat(100_000)}@h`, 'TOKSECRET'],
  ];
  for (const [name, text, secret] of hostile) {
    const started = performance.now();
    const out = redactText(text);
    const ms = performance.now() - started;
    t.ok(ms < 1_000, `${name}: ${ms.toFixed(1)} ms`);
    t.notOk(out.includes(secret), `${name}: the secret is redacted`);
    t.ok(out.length <= MAX_REDACTED_TEXT + 40, `${name}: the text is cut (${out.length} characters)`);
  }
});

t.test('a cut never leaves half a secret behind', async (t) => {
  // the cut falls inside a URL whose password has no "@" left after it: that token goes whole
  const text = `${'x '.repeat((MAX_REDACTED_TEXT - 20) / 2)}postgresql://onair:hunter2hunter2hunter2@db rest`;
  const out = redactText(text);
  t.notOk(out.includes('hunter2'), 'no part of the password');
  t.match(out, /…\[\d+ more characters\]$/);
  t.ok(out.startsWith('x x x'), 'what comes before the cut stays');
  // a whole secret before the cut is still redacted the usual way
  t.equal(redactText(`a://u:pw@h ${'y'.repeat(MAX_REDACTED_TEXT)}`), `a://u:[redacted]@h …[${MAX_REDACTED_TEXT} more characters]`);
  t.equal(redactText('two a://u:p1@h b://v:p2@i three://nopass@h'), 'two a://u:[redacted]@h b://v:[redacted]@i three://nopass@h');
});

t.test('a request body’s streamKey (streams, relay destinations) is redacted wherever a log line carries it', async (t) => {
  const lines: string[] = [];
  const log = createLog({ level: 'info', name: 'test', destination: { write: (line: string) => void lines.push(line) } });
  log.info({ body: { name: 'YouTube', streamKey: 'SECRET-A1' } }, 'a body');
  log.info({ req: { body: { streamKey: 'SECRET-B2' } } }, 'a request');
  log.info({ destination: { streamKey: 'SECRET-C3' }, streamKey: 'SECRET-D4' }, 'fields');
  t.equal(lines.length, 3);
  for (const secret of ['SECRET-A1', 'SECRET-B2', 'SECRET-C3', 'SECRET-D4']) t.notOk(lines.join('').includes(secret), `${secret} is not in the log`);
  t.match(lines[1], /"streamKey":"\[redacted\]"/);
});
