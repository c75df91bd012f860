import t from 'tap';
import { redactNmsMessage } from './nms-redact.js';

t.test("node-media-server's messages lose their stream paths and names", async (t) => {
  t.equal(redactNmsMessage('RTMP session abc 1.2.3.4:5 start push /live/live_SECRET'), 'RTMP session abc 1.2.3.4:5 start push /[path]');
  t.equal(redactNmsMessage('RTMP session abc play /other/SECRET2 error'), 'RTMP session abc play /[path] error');
  t.equal(redactNmsMessage('invalid stream path characters: app=live, name=SECRET3'), 'invalid stream path characters: app=[redacted], name=[redacted]');
});

t.test('a hostile stream name (200k characters of word runs) is redacted in well under a second', async (t) => {
  const names = ['a'.repeat(200_000), 'a://b:'.repeat(35_000), '/a'.repeat(100_000), `SECRET4${'rtmp://'.repeat(30_000)}`];
  for (const name of names) {
    const started = performance.now();
    const out = redactNmsMessage(`RTMP session abc 1.2.3.4:5 invalid stream path characters: app=live, name=${name}`);
    const ms = performance.now() - started;
    t.ok(ms < 1_000, `${ms.toFixed(1)} ms`);
    t.notOk(out.includes('SECRET4'), 'the name is not in the message');
    t.ok(out.length < 4_200, `cut to ${out.length} characters`);
  }
});
