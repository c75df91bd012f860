// The writer tells viewer analytics each part's segment (its MSN) before the part is on disk, so a
// viewer's request for a part can always be counted toward its segment (src/analytics/ll-parts.ts).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { silentLog } from '../log.js';
import { FIXTURES, readFixture } from '../testing/llhls-fixtures.js';
import { RenditionWriter } from './rendition-writer.js';
import { LlSession } from './session.js';

t.test('every part’s seq → MSN is told before the part is written, as the playlist lists it', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-writer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const session = new LlSession({ prefix: 'ab12cd34', targetDuration: 1 });
  const packager = session.rendition('720p');
  const told: { playbackId: string; rendition: string; tag: string; seq: number; msn: number; onDisk: boolean }[] = [];
  const writer = new RenditionWriter({
    packager,
    dir,
    playbackId: 'pb1',
    presentation: 'ab12cd34',
    feed: { publish: async () => {} },
    others: () => [],
    log: silentLog(),
    partMsn: (p) => told.push({ ...p, onDisk: existsSync(path.join(dir, `${p.tag}-part${p.seq}.m4s`)) }),
  });
  const bytes = readFixture(FIXTURES.gop1Copy);
  const chunks = Array.from({ length: Math.ceil(bytes.length / 16384) }, (_, i) => bytes.subarray(i * 16384, (i + 1) * 16384));
  const pipe = Readable.from(chunks);
  writer.read(pipe);
  await new Promise((r) => pipe.once('end', r));
  await writer.endRun();
  await writer.idle();

  t.ok(told.length > 10, `${told.length} parts told`);
  t.same(told.map((p) => p.seq), told.map((_, i) => i + 1), 'every part, in order');
  t.ok(told.every((p) => p.playbackId === 'pb1' && p.rendition === '720p' && p.tag === 'ab12cd34'), 'named as nginx serves them');
  t.ok(told.every((p) => !p.onDisk), 'told before the file exists (so before any viewer can fetch it)');
  t.ok(told.every((p) => existsSync(path.join(dir, `ab12cd34-part${p.seq}.m4s`))), 'then written');
  const msnOf = new Map(told.map((p) => [p.seq, p.msn]));
  const segments = packager.state().segments.filter((s) => !s.gap);
  t.ok(segments.length >= 2);
  for (const s of segments) t.same(s.parts.map((p) => msnOf.get(p.seq)), s.parts.map(() => s.msn), `segment ${s.msn}: its parts`);
});
