import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { finishPlaylists, pruneSegments, segmentsInPlaylist, writeMasterPlaylist } from './hls-output.js';

const playlist = (seq: number, segs: number[], end = false) =>
  ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:2', `#EXT-X-MEDIA-SEQUENCE:${seq}`, ...segs.flatMap((n) => ['#EXTINF:2.000000,', `seg-ab12-${String(n).padStart(6, '0')}.ts`]), ...(end ? ['#EXT-X-ENDLIST'] : []), ''].join('\n');

t.test('pruning keeps the window plus the grace segments, and nothing else', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-hls-'));
  mkdirSync(path.join(dir, '360p'));
  for (let n = 0; n <= 12; n++) writeFileSync(path.join(dir, '360p', `seg-ab12-${String(n).padStart(6, '0')}.ts`), 'x');
  writeFileSync(path.join(dir, '360p', 'index.m3u8'), playlist(7, [7, 8, 9, 10, 11, 12]));
  t.equal(await pruneSegments(dir, 3), 4);
  t.same(readdirSync(path.join(dir, '360p')).filter((f) => f.endsWith('.ts')).length, 9);
});

t.test('finishing adds EXT-X-ENDLIST once, and drops stale temp files', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-hls-'));
  mkdirSync(path.join(dir, '720p'));
  writeFileSync(path.join(dir, '720p', 'index.m3u8'), playlist(0, [0, 1]));
  writeFileSync(path.join(dir, '720p', 'seg-ab12-000002.ts.tmp'), 'half');
  await finishPlaylists(dir);
  await finishPlaylists(dir);
  const text = readFileSync(path.join(dir, '720p', 'index.m3u8'), 'utf8');
  t.equal(text.match(/#EXT-X-ENDLIST/g)?.length, 1);
  t.same(readdirSync(path.join(dir, '720p')), ['index.m3u8']);
  await writeMasterPlaylist(dir, '#EXTM3U\n');
  t.equal(readFileSync(path.join(dir, 'master.m3u8'), 'utf8'), '#EXTM3U\n');
  t.notOk(readdirSync(dir).some((f) => f.endsWith('.tmp')), 'written atomically through a temp file');
});

t.test('segments a playlist accounts for: media sequence + listed', async (t) => {
  t.equal(segmentsInPlaylist('#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2.0,\nseg-a-000007.ts\n#EXTINF:2.0,\nseg-a-000008.ts\n'), 9);
  t.equal(segmentsInPlaylist('#EXTM3U\n#EXTINF:2.0,\nseg-a-000000.ts\n'), 1);
  t.equal(segmentsInPlaylist('#EXTM3U\n'), 0);
});
