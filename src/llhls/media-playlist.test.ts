// The rendered media playlists of a two-rung ladder, checked after every part as a player would
// read them (RFC 8216bis §4.4.3.7–8, §4.4.4.9, §4.4.5.3–4; Apple authoring spec 8.2, 8.4).
import t from 'tap';
import { LlSession } from './session.js';
import { renderMediaPlaylist, type OtherRendition } from './media-playlist.js';
import type { RenditionPackager } from './packager.js';
import { FIXTURES, attr, feedLadder, parseMediaPlaylist, readFixture, type ParsedPlaylist } from '../testing/llhls-fixtures.js';

const START = Date.UTC(2026, 11, 7, 20, 0, 0);
const NAMES = ['1080p', '360p'];

function render(packagers: RenditionPackager[], i: number): string {
  const others: OtherRendition[] = [];
  packagers.forEach((p, j) => {
    const report = p.report();
    if (j !== i && report) others.push({ uri: `../${NAMES[j]}/index.m3u8`, ...report });
  });
  return renderMediaPlaylist({ state: packagers[i]!.state(), others });
}

function one(pl: ParsedPlaylist, tag: string): string {
  const values = pl.tags.get(tag) ?? [];
  if (values.length !== 1) throw new Error(`${tag} appears ${values.length} times`);
  return values[0]!;
}

for (const pair of [
  { copy: FIXTURES.gop1Copy, x264: FIXTURES.gop1X264, td: 1 },
  { copy: FIXTURES.gop2bfCopy, x264: FIXTURES.gop2bfX264, td: 2 },
]) {
  t.test(`${pair.copy} + ${pair.x264}: every playlist a player could fetch`, async (t) => {
    const session = new LlSession({ prefix: 'ses1', targetDuration: pair.td });
    const packagers = NAMES.map((n) => session.rendition(n));
    const headers = new Set<string>();
    let checked = 0;
    let hinted: string[] = ['', ''];
    const problems: string[] = [];
    const problem = (p: string) => problems.length < 20 && problems.push(p);
    feedLadder({
      packagers,
      inputs: [readFixture(pair.copy), readFixture(pair.x264)],
      seed: 7,
      nowMs: START,
      msPerChunk: 20,
      maxChunk: 1500,
      onStep: ({ rendition, files }) => {
        // the preload hint named the part that is written next
        const firstPart = files.find((f) => f.kind === 'part');
        if (firstPart && hinted[rendition] && firstPart.name !== hinted[rendition]) problem(`hint ${hinted[rendition]} but ${firstPart.name} came`);
        for (let i = 0; i < packagers.length; i++) {
          if (packagers[i]!.state().segments.length === 0) continue; // nothing to serve yet
          const text = render(packagers, i);
          const pl = parseMediaPlaylist(text);
          checked += 1;
          headers.add(['#EXT-X-VERSION', '#EXT-X-TARGETDURATION', '#EXT-X-SERVER-CONTROL', '#EXT-X-PART-INF'].map((x) => one(pl, x)).join(' '));
          const hints = pl.tags.get('#EXT-X-PRELOAD-HINT') ?? [];
          if (hints.length !== 1 || attr(hints[0]!, 'TYPE') !== 'PART') problem(`${hints.length} PART preload hints`);
          hinted[i] = attr(hints[0] ?? '', 'URI') ?? '';
          if (pl.tags.has('#EXT-X-ENDLIST')) problem('ENDLIST while live');
          const reports = pl.tags.get('#EXT-X-RENDITION-REPORT') ?? [];
          const others = packagers.filter((p, j) => j !== i && p.report());
          if (reports.length !== others.length) problem(`${reports.length} rendition reports for ${others.length} other renditions`);
          for (const r of reports) {
            const j = NAMES.findIndex((n) => attr(r, 'URI') === `../${n}/index.m3u8`);
            const rep = packagers[j]?.report();
            if (j === i || !rep || Number(attr(r, 'LAST-MSN')) !== rep.lastMsn || Number(attr(r, 'LAST-PART')) !== rep.lastPart) problem(`bad report ${r}`);
          }
          if (pl.segments.some((s) => !s.pdt)) problem('a segment without PROGRAM-DATE-TIME');
          if (pl.segments.some((s) => !s.map)) problem('a segment without EXT-X-MAP');
          const msns = pl.segments.map((s) => s.msn);
          if (msns[0] !== Number(one(pl, '#EXT-X-MEDIA-SEQUENCE')) || msns[0]! < 1) problem('MEDIA-SEQUENCE');
          const open = pl.segments.at(-1)!;
          const openInState = !packagers[i]!.state().segments.at(-1)!.complete;
          if (openInState && (open.uri !== null || open.parts.length === 0)) problem('the playlist ends with the open segment\'s parts');
          const uris = [...text.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]!).concat(pl.segments.flatMap((s) => (s.uri ? [s.uri] : [])));
          if (uris.some((u) => u.startsWith('/') || u.includes('://'))) problem('an absolute URI');
        }
      },
    });
    t.same(problems, [], `${checked} playlists checked`);
    t.equal(headers.size, 1, 'VERSION, TARGETDURATION, SERVER-CONTROL and PART-INF identical in every playlist of both rungs');
    const [version, td, control, partInf] = [...headers][0]!.split(' ');
    t.equal(version, '6', 'version 6: EXT-X-MAP without I-FRAMES-ONLY');
    t.equal(td, String(pair.td), 'TARGETDURATION from the publisher GOP');
    t.equal(attr(control!, 'CAN-BLOCK-RELOAD'), 'YES');
    const partTarget = Number(attr(partInf!, 'PART-TARGET'));
    t.equal(partTarget, 0.235, 'PART-TARGET = 0.2 / 0.85');
    t.ok(Number(attr(control!, 'PART-HOLD-BACK')) >= 3 * partTarget - 1e-9, 'PART-HOLD-BACK ≥ 3 × PART-TARGET');

    // after the runs ended (no end()): still live, segments complete, hint for the next run's part
    const between = parseMediaPlaylist(render(packagers, 0));
    t.equal(between.segments.at(-1)!.uri !== null, true, 'between runs the last segment is complete');
    t.equal(between.tags.get('#EXT-X-PRELOAD-HINT')?.length, 1);

    packagers.forEach((p) => p.end(START + 60_000));
    for (let i = 0; i < packagers.length; i++) {
      const text = render(packagers, i);
      const pl = parseMediaPlaylist(text);
      t.ok(text.trimEnd().split('\n').includes('#EXT-X-ENDLIST'), 'ENDLIST once ended');
      t.notOk(pl.tags.has('#EXT-X-PRELOAD-HINT'), 'and no preload hint');
      t.equal(attr(one(pl, '#EXT-X-SERVER-CONTROL'), 'CAN-BLOCK-RELOAD'), null, 'and no blocking reload');
      t.equal(attr(one(pl, '#EXT-X-SERVER-CONTROL'), 'PART-HOLD-BACK'), attr(control!, 'PART-HOLD-BACK'), 'PART-HOLD-BACK unchanged');
      t.equal(pl.tags.get('#EXT-X-RENDITION-REPORT')?.length, 1, 'a rendition report for the other rung');
    }
  });
}

t.test('the exact text of a small playlist', async (t) => {
  const session = new LlSession({ prefix: 'x', targetDuration: 1 });
  const p = session.rendition('only');
  t.equal(p.push(readFixture(FIXTURES.gop1X264).subarray(0, 16_000), START).error, undefined);
  const text = renderMediaPlaylist({ state: p.state(), others: [{ uri: '../b/index.m3u8', lastMsn: 3, lastPart: 0 }] });
  const lines = text.split('\n');
  t.same(lines.slice(0, 7), [
    '#EXTM3U',
    '#EXT-X-VERSION:6',
    '#EXT-X-TARGETDURATION:1',
    '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.705',
    '#EXT-X-PART-INF:PART-TARGET=0.235',
    '#EXT-X-MEDIA-SEQUENCE:1',
    '#EXT-X-MAP:URI="x-init1.mp4"',
  ]);
  // the first part (0.2 s) reached the packager at START: its start was 200 ms earlier
  t.equal(lines[7], '#EXT-X-PROGRAM-DATE-TIME:2026-12-07T19:59:59.800Z');
  t.equal(lines[8], '#EXT-X-PART:DURATION=0.20000,URI="x-part1.m4s",INDEPENDENT=YES');
  t.equal(lines[9], '#EXT-X-PART:DURATION=0.20000,URI="x-part2.m4s"');
  t.ok(lines.includes('#EXTINF:1.03333,'), 'EXTINF with the segment\'s exact duration');
  t.ok(lines.includes('x-seg1.m4s'));
  t.equal(lines.at(-2), '#EXT-X-RENDITION-REPORT:URI="../b/index.m3u8",LAST-MSN=3,LAST-PART=0');
  t.match(lines.at(-3)!, /^#EXT-X-PRELOAD-HINT:TYPE=PART,URI="x-part\d+\.m4s"$/);
  t.equal(lines.at(-1), '', 'ends with a newline');
});
