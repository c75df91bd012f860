import t from 'tap';
import { showsThumbnail } from './thumbnails.js';

t.test('a stream shows its picture while live and while its publisher reconnects (the last one, while fresh)', async (t) => {
  t.same(['live', 'reconnecting', 'starting', 'offline', 'failed', null].map(showsThumbnail), [true, true, false, false, false, false]);
});
