import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { finishPlaylists, prepareOutputDir, pruneSegments, segmentsInPlaylist, waitForFirstSegments, writeMasterPlaylist } from './hls-output.js';

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

t.test('a continued publish with a new ladder: rungs it lost go, rungs it keeps stay; a fresh one starts empty', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-hls-'));
  for (const name of ['480p', '360p']) {
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, 'index.m3u8'), playlist(0, [0, 1]));
  }
  writeFileSync(path.join(dir, 'master.m3u8'), '#EXTM3U\n');
  await prepareOutputDir(dir, ['360p', '240p'], true);
  t.same(readdirSync(dir).sort(), ['240p', '360p', 'master.m3u8'], '480p is gone (players on it get 404 and switch), 240p is new');
  t.same(readdirSync(path.join(dir, '360p')), ['index.m3u8'], 'the kept rung keeps its playlist');
  await prepareOutputDir(dir, ['360p'], false);
  t.same(readdirSync(dir), ['360p']);
  t.same(readdirSync(path.join(dir, '360p')), []);
});

t.test('a continued run is ready with a segment of its own, not with what the playlist already had', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-hls-'));
  mkdirSync(path.join(dir, '360p'));
  writeFileSync(path.join(dir, '360p', 'index.m3u8'), playlist(4, [4, 5]));
  const before = new Map([['360p', 6]]);
  const waiting = new AbortController();
  const result = waitForFirstSegments(dir, ['360p'], waiting.signal, 10, before);
  await new Promise((r) => setTimeout(r, 100));
  writeFileSync(path.join(dir, '360p', 'index.m3u8'), playlist(4, [4, 5, 6]));
  t.equal(await result, true, 'ready once the run wrote one');
  const stopped = new AbortController();
  const never = waitForFirstSegments(dir, ['360p'], stopped.signal, 10, new Map([['360p', 7]]));
  setTimeout(() => stopped.abort(), 100);
  t.equal(await never, false, 'not ready before that');
});
