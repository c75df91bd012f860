import t from 'tap';
import { parseProgressBlock } from './ffmpeg.js';

t.test('a -progress block', async (t) => {
  const block = ['frame=300', 'fps=29.97', 'stream_0_0_q=28.0', 'bitrate=5012.3kbits/s', 'total_size=1234', 'out_time_us=10010000', 'out_time_ms=10010000', 'out_time=00:00:10.010000', 'dup_frames=0', 'speed=1.01x', 'progress=continue'];
  t.same(parseProgressBlock(block), { fps: 29.97, speed: 1.01, bitrateKbps: 5012.3, outTimeSeconds: 10.01 });
  t.same(parseProgressBlock(['fps=0.00', 'bitrate=N/A', 'speed=N/A', 'out_time_us=N/A', 'progress=continue']), { fps: 0, speed: null, bitrateKbps: null, outTimeSeconds: null });
});
