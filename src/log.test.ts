import t from 'tap';
import { redactText } from './log.js';

t.test('free text loses anything that could be a secret', async (t) => {
  t.equal(redactText('Input #0, flv, from rtmp://10.0.0.2:1935/live/live_SECRETKEY123:'), 'Input #0, flv, from rtmp://10.0.0.2:1935/live/[redacted]');
  t.equal(redactText('pull rtmp://ingest:1935/internal/abc?sig=XYZ done'), 'pull rtmp://ingest:1935/internal/[redacted]?sig=[redacted] done');
  t.equal(redactText('start push /live/live_abc_DEF-123 ok'), 'start push /live/[redacted] ok');
  t.equal(redactText('url postgresql://onair:hunter2@db/onair'), 'url postgresql://onair:[redacted]@db/onair');
  t.equal(redactText('a?token=abc&x=1 key=zzz'), 'a?token=[redacted]&x=1 key=[redacted]');
  t.equal(redactText('line one\r\nforged line'), 'line one forged line');
});
