import t from 'tap';
import { checkLiveJob } from './job-check.js';

const id = '0b9d2a4e-6f1c-4c3e-9a57-2f4b8e1d7c60';
const good = {
  streamId: 'a1b2c3d4-0000-4000-8000-000000000001',
  publishSessionId: id,
  playbackId: 'abcdefghij0123456789',
  profile: 'default',
  pullUrl: `rtmp://127.0.0.1:1935/internal/${id}`,
  source: { videoCodec: 'h264', audioCodec: 'aac', width: 1920, height: 1080, fps: 29.97, videoBitrateKbps: 4500, audioBitrateKbps: 128, avcProfile: { profileIdc: 100, constraints: 0, levelIdc: 41 } },
};
const pullHosts = ['127.0.0.1:1935', 'ingest-b.example.com:1935', '[fd00::7]:1940'];
const problem = (data: unknown) => {
  const r = checkLiveJob(data, { pullHosts });
  return r.ok ? null : r.problem;
};

t.test('a job as the ingest writes it passes', async (t) => {
  t.same(checkLiveJob(good, { pullHosts }), { ok: true, job: good });
  t.equal(problem({ ...good, pullUrl: `rtmp://INGEST-B.example.com:1935/internal/${id}` }), null, 'host names compare without case');
  t.equal(problem({ ...good, pullUrl: `rtmp://[fd00::7]:1940/internal/${id}` }), null, 'an IPv6 ingest');
  t.equal(problem({ ...good, source: { ...good.source, audioCodec: null, width: null, fps: null, avcProfile: null } }), null, 'what the source leaves unknown');
});

t.test('a playback id that is not one is refused (it names a directory)', async (t) => {
  for (const playbackId of ['../../etc', '..', 'ABCDEFGHIJ0123456789', 'abc/def', 'abcdefghij012345678', '', 42]) {
    t.match(problem({ ...good, playbackId }), /^playbackId: /, JSON.stringify(playbackId));
  }
});

t.test('ids, profile and source must have their shapes', async (t) => {
  t.match(problem({ ...good, publishSessionId: "x' OR 1=1" }), /^publishSessionId: not a uuid/);
  t.match(problem({ ...good, streamId: undefined }), /^streamId: /);
  t.match(problem({ ...good, profile: '../default' }), /^profile: not a profile name/);
  t.match(problem({ ...good, source: { ...good.source, fps: '30 -i /etc/passwd' } }), /^source\.fps: /);
  t.match(problem({ ...good, source: { ...good.source, videoCodec: 'h264 -f' } }), /^source\.videoCodec: /);
  t.match(problem(null), /^the job: /);
  t.match(problem('live'), /^the job: /);
});

t.test('whether the publish is recorded is a boolean, or absent (a job from before recordings: not recorded)', async (t) => {
  t.same(checkLiveJob({ ...good, record: true }, { pullHosts }), { ok: true, job: { ...good, record: true } });
  t.equal(problem({ ...good, record: false }), null);
  t.match(problem({ ...good, record: 'yes' }), /^record: /);
});

t.test('the pull URL must name a declared ingest and the job’s own publish session', async (t) => {
  const refused: [string, RegExp][] = [
    [`rtmp://10.9.9.9:1935/internal/${id}`, /names 10\.9\.9\.9:1935, which is not one of the ingests .*INGEST_PULL_HOSTS: 127\.0\.0\.1:1935/],
    [`rtmp://127.0.0.1:6379/internal/${id}`, /names 127\.0\.0\.1:6379/],
    [`rtmp://127.0.0.1/internal/${id}`, /not an rtmp:\/\/<host>:<port>/],
    [`rtmps://127.0.0.1:1935/internal/${id}`, /not an rtmp:/],
    [`file:///etc/passwd`, /not an rtmp:/],
    [`rtmp://u:p@127.0.0.1:1935/internal/${id}`, /not an rtmp:/],
    [`rtmp://evil.example.com#@127.0.0.1:1935/internal/${id}`, /not an rtmp:/],
    [`rtmp://127.0.0.1:1935/internal/${id}?sig=x`, /not an rtmp:/],
    [`rtmp://127.0.0.1:1935/live/${id}`, /not an rtmp:/],
    [`rtmp://127.0.0.1:1935/internal/${id.replace('0b', '1b')}`, /another publish session/],
  ];
  for (const [pullUrl, re] of refused) t.match(problem({ ...good, pullUrl }), re, pullUrl);
});
